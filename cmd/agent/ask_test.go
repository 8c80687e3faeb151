package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// askPlan is a plan in the seed model's style: a search and a page read, a second
// search the answer does not use, and a knowledge-model question over the page.
const askPlan = ` Plan: Search the web for the winner.
:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]
Plan: Read the pages found.
:evidence1: = TextScraper[:evidence0:]
Plan: Look for other poets too.
:evidence2: = DuckDuckGo[American poets]
Plan: Ask the knowledge model.
:evidence3: = KnowledgeModel[Who won the Nobel Prize in Literature in 2020, given :evidence1:?]
Answer: :evidence3:
USER: this must never be read`

// askEnv is a scripted model behind an OpenAI-compatible server, and a local web
// server that the real tools reach: a DuckDuckGo results page and the pages it
// links. It records when each path was first requested.
type askEnv struct {
	eng *plannertest.Engine
	llm *httptest.Server
	web *httptest.Server

	mu     sync.Mutex
	starts map[string]time.Time
}

const ddgResult = `<div class="result results_links web-result"><h2 class="result__title">` +
	`<a class="result__a" href="%s">%s</a></h2><a class="result__snippet">%s</a></div>`

func newAskEnv(t *testing.T, plan string, delay time.Duration) *askEnv {
	t.Helper()
	e := &askEnv{starts: map[string]time.Time{}}
	e.eng = &plannertest.Engine{Delay: delay, Replies: []plannertest.Reply{
		{Match: "BEGININSTRUCTION", Text: " Louise Glück won the 2020 Nobel Prize in Literature."},
		{Text: plan},
	}}
	e.llm = e.eng.NewServer()
	t.Cleanup(e.llm.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/html/", func(w http.ResponseWriter, r *http.Request) {
		e.started("search " + r.FormValue("q"))
		result := fmt.Sprintf(ddgResult, e.web.URL+"/glueck", "Nobel Prize in Literature 2020", "Louise Glück")
		if strings.Contains(r.FormValue("q"), "poets") {
			result = fmt.Sprintf(ddgResult, e.web.URL+"/poets", "American poets", "A list")
		}
		fmt.Fprintf(w, `<html><body><div id="links">%s</div></body></html>`, result)
	})
	mux.HandleFunc("/glueck", func(w http.ResponseWriter, r *http.Request) {
		e.started("/glueck")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><head><title>Literature 2020</title></head><body><article><p>The 2020 Nobel Prize in Literature went to Louise Glück.</p></article></body></html>")
	})
	e.web = httptest.NewServer(mux)
	t.Cleanup(e.web.Close)

	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for k, v := range map[string]string{"AGENT_CONFIG": "", "AGENT_MODEL": "", "AGENT_LLM_URL": "", "AGENT_TOOLS": "",
		"AGENT_SEARCH_BACKEND": "duckduckgo", "AGENT_DUCKDUCKGO_URL": e.web.URL + "/html/", "AGENT_ALLOW_PRIVATE_NETWORKS": "1"} {
		t.Setenv(k, v)
	}
	return e
}

func (e *askEnv) started(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.starts[what]; !ok {
		e.starts[what] = time.Now()
	}
}

func TestAskAnswersWithSources(t *testing.T) {
	e := newAskEnv(t, askPlan, 3*time.Millisecond)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "Who won the Nobel Prize in Literature in 2020?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	want := "Louise Glück won the 2020 Nobel Prize in Literature.\n\nSources:\n" +
		"  [1] " + e.web.URL + "/glueck (:evidence0:, :evidence1:, :evidence3:)\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	// The agent cuts the plan's stream at its Answer line and may exit before the
	// server's handler has seen the cut and recorded the plan's reply and end:
	// closing the server waits for its handlers.
	e.llm.Close()
	calls := e.eng.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d engine calls, want the plan and one KnowledgeModel question", len(calls))
	}
	plan, km := calls[0], calls[1]
	first := e.starts["search Nobel Prize in Literature 2020 winner"]
	if first.IsZero() || !first.Before(plan.End) {
		t.Errorf("the first tool call started %v after the plan was complete", first.Sub(plan.End))
	}
	if e.starts["search American poets"].IsZero() {
		t.Error("the second search never ran")
	}
	if strings.Contains(plan.Reply, "USER:") || !strings.HasSuffix(strings.TrimSpace(plan.Reply), "Answer: :evidence3:") {
		t.Errorf("the plan did not stop at its end: %q", plan.Reply)
	}
	if !strings.Contains(km.Request.Prompt, "went to Louise Glück") || !strings.Contains(km.Request.Prompt, "url: "+e.web.URL+"/glueck") {
		t.Errorf("the KnowledgeModel prompt lacks the page:\n%s", km.Request.Prompt)
	}
	for _, s := range []string{"plan  :evidence0: = DuckDuckGo", "run   :evidence1: TextScraper[", "done  :evidence3:"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("progress lacks %q:\n%s", s, errOut)
		}
	}
}

func TestAskJSON(t *testing.T) {
	e := newAskEnv(t, askPlan, 0)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--json", "--quiet", "Who won?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("--quiet wrote progress: %q", errOut)
	}
	var tr struct {
		Question string `json:"question"`
		Prompt   string `json:"prompt"`
		Plan     string `json:"plan"`
		DAG      struct {
			Steps []struct {
				Name string   `json:"name"`
				Deps []string `json:"deps"`
			} `json:"steps"`
			Answer struct{ Refs []string } `json:"answer"`
		} `json:"dag"`
		Steps []struct {
			Name, Tool, Input, State string
			ResolvedInput            string   `json:"resolved_input"`
			Output                   string   `json:"output"`
			Sources                  []string `json:"sources"`
			Start                    float64  `json:"start_s"`
			Duration                 float64  `json:"duration_s"`
		} `json:"steps"`
		Answer struct {
			Text    string `json:"text"`
			Method  string `json:"method"`
			Sources []struct {
				URL   string   `json:"url"`
				Steps []string `json:"steps"`
			} `json:"sources"`
		} `json:"answer"`
		EngineCalls []struct {
			Purpose      string  `json:"purpose"`
			Step         string  `json:"step"`
			Attempt      int     `json:"attempt"`
			Start        float64 `json:"start_s"`
			PromptTokens int     `json:"prompt_tokens"`
			Tokens       int     `json:"tokens"`
			TokensPerS   float64 `json:"tokens_per_s"`
			Stop         string  `json:"stop"`
		} `json:"engine_calls"`
		Timings struct {
			PlanDone     float64  `json:"plan_done_s"`
			Total        float64  `json:"total_s"`
			CriticalPath []string `json:"critical_path"`
		} `json:"timings"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	if tr.Question != "Who won?" || !strings.Contains(tr.Prompt, "USER: ") || !strings.Contains(tr.Plan, ":evidence3: = KnowledgeModel[") {
		t.Errorf("question, prompt or plan missing: %q / %q / %q", tr.Question, tr.Prompt, tr.Plan)
	}
	if len(tr.DAG.Steps) != 4 || tr.DAG.Steps[3].Deps[0] != ":evidence1:" || tr.DAG.Answer.Refs[0] != ":evidence3:" {
		t.Errorf("dag = %+v", tr.DAG)
	}
	if len(tr.Steps) != 4 {
		t.Fatalf("steps = %+v", tr.Steps)
	}
	for _, s := range tr.Steps {
		if s.State != "done" || s.ResolvedInput == "" || s.Output == "" || s.Sources == nil || s.Start <= 0 {
			t.Errorf("step %+v", s)
		}
	}
	if s := tr.Steps[1]; !strings.Contains(s.ResolvedInput, "/glueck") || s.Input != ":evidence0:" {
		t.Errorf("step 1 input %q resolved to %q", s.Input, s.ResolvedInput)
	}
	if tr.Answer.Method != "answer-line" || len(tr.Answer.Sources) != 1 {
		t.Errorf("answer = %+v", tr.Answer)
	}
	if len(tr.EngineCalls) != 2 {
		t.Fatalf("engine calls = %+v", tr.EngineCalls)
	}
	if c := tr.EngineCalls[0]; c.Purpose != "plan" || c.Stop != "answer-line" || c.Tokens == 0 {
		t.Errorf("plan call = %+v", c)
	}
	// The calls are listed in the order they started, whichever ended first.
	if c := tr.EngineCalls[1]; c.Purpose != "tool KnowledgeModel" || c.Step != ":evidence3:" || c.Attempt != 1 ||
		c.Tokens != 9 || c.Stop != "eos" || c.Start < tr.EngineCalls[0].Start {
		t.Errorf("KnowledgeModel call = %+v", c)
	}
	if tr.Timings.Total < tr.Timings.PlanDone || len(tr.Timings.CriticalPath) == 0 {
		t.Errorf("timings = %+v", tr.Timings)
	}
}

func TestAskWithoutAnswerLine(t *testing.T) {
	plan := " :evidence0: = DuckDuckGo[Nobel Prize in Literature 2020]\n:evidence1: = TextScraper[:evidence0:]\n"
	e := newAskEnv(t, plan, 0)
	out, errOut, code := runAgent(t, "Who won the Nobel Prize in Literature in 2020?\n", "ask", "--llm-url", e.llm.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.HasPrefix(out, "Louise Glück won") || !strings.HasSuffix(out, "/glueck (:evidence0:, :evidence1:)\n") {
		t.Errorf("stdout:\n%s", out)
	}
	calls := e.eng.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d engine calls, want the plan and one closed-context question", len(calls))
	}
	p := calls[1].Request.Prompt
	if strings.Count(p, "BEGININPUT") != 2 || !strings.Contains(p, "BEGININSTRUCTION\nWho won the Nobel Prize in Literature in 2020?") {
		t.Errorf("the answer was not asked over all evidence:\n%s", p)
	}
	if !strings.Contains(errOut, "no Answer line") {
		t.Errorf("progress does not say how the answer was found:\n%s", errOut)
	}
}

func TestAskBrokenPlan(t *testing.T) {
	plan := " Plan: search\n:evidence0: = DuckDuckGoo[x]\n:evidence1: = TextScraper[:evidence0:\nAnswer: :evidence1:\n"
	e := newAskEnv(t, plan, 0)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "q?")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, s := range []string{
		"cannot be run",
		`   2 | :evidence0: = DuckDuckGoo[x]`,
		`plan:2:15: unknown tool "DuckDuckGoo" (did you mean "DuckDuckGo"?)`,
		`plan:3:26: unclosed "["`,
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	if len(e.starts) != 0 {
		t.Error("a step of a broken plan ran")
	}
}

// TestAskBrokenPlanLongLines checks a broken plan with a line of 100,000
// characters is shown, with its diagnostics, in lines a terminal can take.
func TestAskBrokenPlanLongLines(t *testing.T) {
	plan := " :evidence0: = Search" + strings.Repeat("x", 100000) + "[a]\nAnswer: :evidence0:\n"
	e := newAskEnv(t, plan, 0)
	_, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "q?")
	if code != 1 || !strings.Contains(errOut, `plan:1:16: unknown tool "Searchxxx`) {
		t.Fatalf("exit %d\n%.2000s", code, errOut)
	}
	for _, l := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(l, "[") { // the progress lines are the view's
			continue
		}
		if n := utf8.RuneCountInString(l); n > 300 {
			t.Errorf("a line of %d characters: %.100q", n, l)
		}
	}
}

// TestAskInputBound sets planner.max_input_bytes through the environment: the
// step whose input the search results would make too long fails, saying so.
func TestAskInputBound(t *testing.T) {
	e := newAskEnv(t, askPlan, 0)
	t.Setenv("AGENT_MAX_INPUT_BYTES", "50")
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--json", "--quiet", "Who won?")
	if code != 1 {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	var tr struct {
		Steps []struct{ Name, State, Error string }
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || len(tr.Steps) != 4 {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := tr.Steps[1]; s.State != "failed" || !strings.Contains(s.Error, ":evidence1:'s input: substituted text too large") || !strings.Contains(s.Error, "the limit is 50") {
		t.Errorf("step 1 = %+v", s)
	}
	if tr.Steps[0].State != "done" || tr.Steps[3].State != "skipped" {
		t.Errorf("steps %+v", tr.Steps)
	}
	if _, ok := e.starts["/glueck"]; ok {
		t.Error("the page was fetched")
	}
}

// TestAskTooManySteps checks a looping model's plan is refused like any broken
// plan: the plan written so far, the step that was one too many, exit 1, and no
// list of steps cancelled on the way.
func TestAskTooManySteps(t *testing.T) {
	var plan strings.Builder
	for i := range 40 {
		fmt.Fprintf(&plan, ":evidence%d: = DuckDuckGo[query %d]\n", i, i)
	}
	e := newAskEnv(t, plan.String(), 0)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--max-steps", "3", "q?")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, s := range []string{
		"cannot be run: the plan has too many steps, after one repair. The repaired plan:\n",
		"   4 | :evidence3: = DuckDuckGo[query 3]\n",
		"plan:4:1: :evidence3: is one step too many (at most 3)\n",
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	if strings.Contains(errOut, "evidence5") || strings.Contains(errOut, "http://") {
		t.Errorf("stderr shows more than the plan up to the extra step:\n%s", errOut)
	}
}

// TestAskPlanAtTokenLimit checks the diagnostics of a plan cut by the token limit
// say so.
func TestAskPlanAtTokenLimit(t *testing.T) {
	e := newAskEnv(t, ":evidence0: = DuckDuckGo[an input that never ends and goes on", 0)
	t.Setenv("AGENT_MAX_PLAN_TOKENS", "6")
	_, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "q?")
	if code != 1 || !strings.Contains(errOut, "(the model stopped at the 6-token limit), after one repair. The repaired plan:\n") ||
		!strings.Contains(errOut, `plan:1:25: unclosed "["`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}

// TestAskTimeout checks the overall time limit ends the run with a message naming
// it, not as an interruption.
func TestAskTimeout(t *testing.T) {
	e := newAskEnv(t, askPlan, 100*time.Millisecond)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--timeout", "300ms", "q?")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, s := range []string{"timed out after", "ran out of time: the limit is 300ms (--timeout, planner.timeout)"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	if strings.Contains(errOut, "interrupted") {
		t.Errorf("a time limit is reported as an interruption:\n%s", errOut)
	}
}

func TestAskPlanOnly(t *testing.T) {
	e := newAskEnv(t, askPlan, 0)
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--plan-only", "q?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.HasPrefix(out, "Plan: Search the web for the winner.\n:evidence0: = DuckDuckGo[") || !strings.HasSuffix(out, "Answer: :evidence3:\n") {
		t.Errorf("stdout:\n%s", out)
	}
	if len(e.starts) != 0 || len(e.eng.Calls()) != 1 {
		t.Errorf("plan-only ran tools %v or made %d engine calls", e.starts, len(e.eng.Calls()))
	}
}

func TestAskUsage(t *testing.T) {
	newAskEnv(t, askPlan, 0)
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no question", []string{"ask"}, 2, "no question"},
		{"no engine", []string{"ask", "q?"}, 1, "no language model"},
		{"both engines", []string{"ask", "--model", "x", "--llm-url", "http://127.0.0.1:1", "q?"}, 2, "not both"},
		{"bad flag value", []string{"ask", "--max-steps", "many", "q?"}, 2, `invalid argument "many" for "--max-steps" flag`},
		{"bad server URL", []string{"ask", "--llm-url", "ftp://x", "q?"}, 1, "want http:// or https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runAgent(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.err)
			}
		})
	}
}
