package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

const searchPlan = " :evidence0: = DuckDuckGo[Nobel Prize in Literature 2020]\n" +
	":evidence1: = KnowledgeModel[Who won, given :evidence0:?]\nAnswer: :evidence1:\n"

// blockedWeb serves DuckDuckGo's endpoint that blocks every request (HTTP 403)
// and, with searx, a SearXNG instance that answers; it counts the requests.
func blockedWeb(t *testing.T, searx bool) (url string, ddg, sx *atomic.Int64) {
	ddg, sx = &atomic.Int64{}, &atomic.Int64{}
	mux := http.NewServeMux()
	mux.HandleFunc("/html/", func(w http.ResponseWriter, r *http.Request) {
		ddg.Add(1)
		http.Error(w, "blocked", http.StatusForbidden)
	})
	var srv *httptest.Server
	if searx {
		mux.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) {
			sx.Add(1)
			fmt.Fprintf(w, `{"results": [{"url": %q, "title": "Nobel 2020", "content": "Louise Glück"}]}`, srv.URL+"/glueck")
		})
	}
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("AGENT_DUCKDUCKGO_URL", srv.URL+"/html/")
	if searx {
		t.Setenv("AGENT_SEARXNG_URL", srv.URL)
	}
	return srv.URL, ddg, sx
}

// TestBatchSearchFallback: DuckDuckGo blocks, the search falls over to
// SearXNG, and DuckDuckGo is left alone for the following questions.
func TestBatchSearchFallback(t *testing.T) {
	e := newAskEnv(t, searchPlan, 0)
	_, ddg, sx := blockedWeb(t, true)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	_, errOut, code := runAgent(t, "q one?\nq two?\nq three?\n", "batch", "--llm-url", e.llm.URL, "-", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for id, r := range byID(t, readBatchOutput(t, out)) {
		if r.Status != "ok" {
			t.Errorf("question %s: %s: %s", id, r.Status, r.Error)
		}
	}
	if ddg.Load() != 1 || sx.Load() != 3 {
		t.Errorf("DuckDuckGo asked %d times, SearXNG %d; want 1 (then paused) and 3", ddg.Load(), sx.Load())
	}
}

// TestBatchBlockedReason: with nothing to fall over to, a question whose only
// evidence was blocked is recorded as blocked, and one with evidence left is a
// partial answer; both reasons name the block.
func TestBatchBlockedReason(t *testing.T) {
	e := newAskEnv(t, searchPlan, 0)
	blockedWeb(t, false)
	t.Setenv("AGENT_SEARXNG_URL", "")
	e.eng.Replies = append(e.eng.Replies[:1:1], []plannertest.Reply{
		{Match: "partial?", Text: " :evidence0: = DuckDuckGo[Nobel]\n:evidence1: = KnowledgeModel[Who won in 2020?]\nAnswer: :evidence0: :evidence1:\n"},
		{Text: searchPlan}}...)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	_, errOut, code := runAgent(t, "blocked?\npartial?\n", "batch", "--llm-url", e.llm.URL, "--replans", "0", "-", out)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	recs := byID(t, readBatchOutput(t, out))
	if r := recs["1"]; r.Status != "blocked" || !strings.Contains(r.Error, "blocked") || strings.Contains(r.Error, "missing") {
		t.Errorf("blocked question: %s: %s", r.Status, r.Error)
	}
	if r := recs["2"]; r.Status != "partial" || !strings.Contains(r.Error, "DuckDuckGo[Nobel] blocked") || r.Answer == "" {
		t.Errorf("partial question: %s: %s (answer %q)", r.Status, r.Error, r.Answer)
	}
	if !strings.Contains(errOut, "1 partial, 1 blocked") {
		t.Errorf("the summary does not count them:\n%s", errOut)
	}
}

// TestAskConfirm: a tool marked confirm is refused where nobody can be asked
// (stdin and stderr are no terminal), and runs with --yes.
func TestAskConfirm(t *testing.T) {
	e := newAskEnv(t, " :evidence0: = Delete[note 1]\nAnswer: :evidence0:\n", 0)
	toolsFile := filepath.Join(t.TempDir(), "tools.yaml")
	y := "tools:\n  - name: Delete\n    description: Deletes a note.\n    confirm: true\n    prompt:\n      template: \"BEGININSTRUCTION delete {{ .Input }}\"\n"
	if err := os.WriteFile(toolsFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--tools-config", toolsFile, "--replans", "0", "delete note 1")
	if code != 1 || !strings.Contains(errOut, "Delete needs approval before it runs") || !strings.Contains(errOut, "--yes") {
		t.Errorf("unattended: exit %d\n%s", code, errOut)
	}
	for _, flag := range []string{"--yes", "--allow-confirm"} {
		out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--tools-config", toolsFile, flag, "delete note 1")
		if code != 0 || !strings.Contains(out, "Louise Glück") {
			t.Errorf("%s: exit %d, stdout %q\n%s", flag, code, out, errOut)
		}
	}
}

// TestAskBudgetAndRepairFlags: the budget and repair flags reach the planner,
// and the trace says what stopped it.
func TestAskBudgetAndRepairFlags(t *testing.T) {
	e := newAskEnv(t, askPlan, 0)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--budget-tool-calls", "1", "--json", "Who won?")
	if code != 0 || !strings.Contains(out, `"stop": "budget-tool-calls"`) || !strings.Contains(out, `"partial": true`) {
		t.Errorf("--budget-tool-calls 1: exit %d\n%s\n%s", code, out, errOut)
	}
	e = newAskEnv(t, " :evidence0: = DuckDuckgo[x]\nAnswer: :evidence0:\n", 0)
	_, errOut, code = runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--repair=false", "Who won?")
	if code != 1 || len(e.eng.Calls()) != 1 || strings.Contains(errOut, "repair") {
		t.Errorf("--repair=false: exit %d, %d engine calls\n%s", code, len(e.eng.Calls()), errOut)
	}
}
