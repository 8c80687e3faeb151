package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// batchLine is what a job reads from one line of a batch's output.
type batchLine struct {
	ID       string `json:"id"`
	Question string `json:"question"`
	Status   string `json:"status"`
	Answer   string `json:"answer"`
	Sources  []struct {
		URL   string   `json:"url"`
		Steps []string `json:"steps"`
	} `json:"sources"`
	Error       string   `json:"error"`
	Prompt      string   `json:"prompt"`
	Plan        string   `json:"plan"`
	Diagnostics []string `json:"diagnostics"`
	Steps       []struct {
		Name          string   `json:"name"`
		Tool          string   `json:"tool"`
		Input         string   `json:"input"`
		State         string   `json:"state"`
		Error         string   `json:"error"`
		Output        *string  `json:"output"`
		ResolvedInput *string  `json:"resolved_input"`
		Sources       []string `json:"sources"`
		Duration      float64  `json:"duration_s"`
		Bytes         int      `json:"bytes"`
	} `json:"steps"`
	EngineCalls []struct {
		Purpose string `json:"purpose"`
		Tokens  int    `json:"tokens"`
	} `json:"engine_calls"`
	Tokens struct {
		Prompt    int `json:"prompt"`
		Generated int `json:"generated"`
	} `json:"tokens"`
	Started time.Time `json:"started"`
	Timings struct {
		Total float64 `json:"total_s"`
	} `json:"timings"`
}

// readBatchOutput checks every line of the output at path is one complete JSON
// record and returns them in order.
func readBatchOutput(t *testing.T, path string) []batchLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("%s does not end with a line end", path)
	}
	var out []batchLine
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" && len(data) == 0 {
			break
		}
		var r batchLine
		if !json.Valid([]byte(l)) {
			t.Fatalf("%s:%d is not JSON: %q", path, i+1, l)
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, r)
	}
	return out
}

// byID indexes records by id, failing on a repeated id.
func byID(t *testing.T, recs []batchLine) map[string]batchLine {
	t.Helper()
	m := map[string]batchLine{}
	for _, r := range recs {
		if _, dup := m[r.ID]; dup {
			t.Errorf("id %q recorded twice", r.ID)
		}
		m[r.ID] = r
	}
	return m
}

// newBatchEnv is ask's test setting (a scripted model, a DuckDuckGo page and the
// pages it links) with plans for particular questions put first: each key of
// plans is a word of a question. Fetches are not rate limited and failed steps
// not retried, so the tests run fast.
func newBatchEnv(t *testing.T, plans map[string]string) *askEnv {
	t.Helper()
	e := newAskEnv(t, askPlan, 0)
	var first []plannertest.Reply
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range plans {
			if !yield(k) {
				return
			}
		}
	}) {
		first = append(first, plannertest.Reply{Match: k, Text: plans[k]})
	}
	e.eng.Replies = append(first, e.eng.Replies...)
	t.Setenv("AGENT_FETCH_PER_HOST_RATE", "1000")
	t.Setenv("AGENT_FETCH_PER_HOST_BURST", "1000")
	t.Setenv("AGENT_RETRIES", "0")
	return e
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hangServer answers no request until its client gives up.
func hangServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	return srv
}

// TestBatchMixed runs a job whose questions end every way a question can: an
// answer, a broken plan, a failed step, the time limit.
func TestBatchMixed(t *testing.T) {
	hang := hangServer(t)
	e := newBatchEnv(t, map[string]string{
		"QBROKEN": " :evidence0: = DuckDuckGoo[x]\nAnswer: :evidence0:\n",
		"QSLOW":   " :evidence0: = TextScraper[" + hang.URL + "/slow]\nAnswer: :evidence0:\n",
	})
	// The failing plan names the web server, known only now.
	e.eng.Replies = append([]plannertest.Reply{{Match: "QFAIL",
		Text: " :evidence0: = TextScraper[" + e.web.URL + "/missing]\nAnswer: :evidence0:\n"}}, e.eng.Replies...)
	in := writeFile(t, "questions.jsonl", `{"id": "nobel", "question": "Who won the Nobel Prize in Literature in 2020?"}

{"id": 2, "question": "QBROKEN plan?", "gold": "anything"}
{"id": "fail", "question": "QFAIL page?"}
{"id": "slow", "question": "  QSLOW page?  "}
`)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	stdout, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, "--parallel", "4", "--timeout", "3s", in, out)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing\n%s", code, stdout, errOut)
	}
	recs := byID(t, readBatchOutput(t, out))
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4\n%s", len(recs), errOut)
	}
	want := map[string]string{"nobel": "ok", "2": "bad_plan", "fail": "failed", "slow": "timeout"}
	for id, status := range want {
		if r := recs[id]; r.Status != status || (status == "ok") != (r.Error == "") {
			t.Errorf("%s: status %q, error %q; want %q", id, r.Status, r.Error, status)
		}
	}
	ok := recs["nobel"]
	if ok.Answer != "Louise Glück won the 2020 Nobel Prize in Literature." || len(ok.Sources) != 1 || ok.Sources[0].URL != e.web.URL+"/glueck" {
		t.Errorf("answer %q, sources %+v", ok.Answer, ok.Sources)
	}
	if len(ok.Steps) != 4 || ok.Steps[1].Tool != "TextScraper" || ok.Steps[1].State != "done" || ok.Steps[1].Bytes == 0 ||
		ok.Steps[1].Output != nil || ok.Steps[1].ResolvedInput != nil || len(ok.Steps[1].Sources) != 1 || ok.Steps[1].Duration <= 0 {
		t.Errorf("steps (without --full: no outputs): %+v", ok.Steps)
	}
	if len(ok.EngineCalls) != 2 || ok.Tokens.Generated != ok.EngineCalls[0].Tokens+ok.EngineCalls[1].Tokens || ok.Tokens.Prompt == 0 {
		t.Errorf("engine calls %+v, tokens %+v", ok.EngineCalls, ok.Tokens)
	}
	if ok.Prompt != "" || !strings.Contains(ok.Plan, ":evidence3: = KnowledgeModel[") || ok.Timings.Total <= 0 || ok.Started.IsZero() {
		t.Errorf("prompt %q, plan %q, timings %+v, started %v", ok.Prompt, ok.Plan, ok.Timings, ok.Started)
	}
	if r := recs["2"]; len(r.Diagnostics) == 0 || !strings.Contains(r.Diagnostics[0], `unknown tool "DuckDuckGoo"`) || r.Question != "QBROKEN plan?" {
		t.Errorf("bad plan record: %+v", r)
	}
	if r := recs["fail"]; len(r.Steps) != 1 || r.Steps[0].State != "failed" || r.Steps[0].Error == "" || !strings.Contains(r.Error, "no answer") {
		t.Errorf("failed record: %+v", r)
	}
	if r := recs["slow"]; r.Question != "QSLOW page?" || !strings.Contains(r.Error, "ran out of time: the limit is 3s") {
		t.Errorf("timed-out record: %+v", r)
	}
	for _, s := range []string{"batch: 4 questions, 4 to run (4 at a time)", "ok       nobel", "bad_plan 2",
		"batch: 4 of 4 run in", "1 ok, 3 failed (1 bad_plan, 1 timeout, 0 partial, 0 blocked); 0 skipped", "some questions failed"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}

	// Run again: every id has a record, so nothing runs, and the job still failed.
	calls := len(e.eng.Calls())
	_, errOut, code = runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out)
	if code != 1 || len(e.eng.Calls()) != calls || !strings.Contains(errOut, "0 of 0 run") ||
		!strings.Contains(errOut, "4 skipped (3 of them failed before; --retry-failed runs them again)") {
		t.Errorf("second run: exit %d, %d engine calls\n%s", code, len(e.eng.Calls())-calls, errOut)
	}
	if n := len(readBatchOutput(t, out)); n != 4 {
		t.Errorf("the second run left %d records, want 4", n)
	}
}

// TestBatchRetryFailed checks --retry-failed runs only the failed questions again
// and that the newest record of an id wins.
func TestBatchRetryFailed(t *testing.T) {
	e := newBatchEnv(t, map[string]string{"QBROKEN": " :evidence0: = DuckDuckGoo[x]\nAnswer: :evidence0:\n"})
	in := writeFile(t, "questions.txt", "Who won the Nobel Prize in Literature in 2020?\nQBROKEN plan?\n")
	out := filepath.Join(t.TempDir(), "out.jsonl")
	if _, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out); code != 1 {
		t.Fatalf("first run: exit %d\n%s", code, errOut)
	}
	// The model does better the second time.
	e.eng.Replies[0].Text = " :evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]\nAnswer: :evidence0:\n"
	calls := len(e.eng.Calls())
	_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, "--retry-failed", in, out)
	if code != 0 {
		t.Fatalf("retry: exit %d\n%s", code, errOut)
	}
	newCalls := e.eng.Calls()[calls:]
	if len(newCalls) != 1 || !strings.Contains(newCalls[0].Request.Prompt, "QBROKEN") {
		t.Errorf("the retry made %d engine calls, want QBROKEN's plan alone", len(newCalls))
	}
	recs := readBatchOutput(t, out)
	if len(recs) != 3 || recs[1].ID != "2" || recs[1].Status != "bad_plan" || recs[2].ID != "2" || recs[2].Status != "ok" {
		t.Errorf("records: %+v", recs)
	}
	if !strings.Contains(errOut, "1 of 1 run") || !strings.Contains(errOut, "1 ok, 0 failed; 1 skipped;") {
		t.Errorf("summary:\n%s", errOut)
	}
	_, errOut, code = runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out)
	if code != 0 || !strings.Contains(errOut, "2 skipped;") {
		t.Errorf("third run: exit %d\n%s", code, errOut)
	}
}

// TestBatchResumeTruncated checks a record a killed run left half written is
// reported and cut off, and that the resumed job answers exactly the questions
// without a complete record.
func TestBatchResumeTruncated(t *testing.T) {
	e := newBatchEnv(t, nil)
	in := writeFile(t, "questions.txt", "Q one?\nQ two?\n\nQ four?\n")
	whole := `{"id":"1","question":"Q one?","status":"ok","answer":"one"}` + "\n"
	out := writeFile(t, "out.jsonl", whole+`{"id":"2","question":"Q two?","status":"ok","ans`)
	_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "out.jsonl:2: an incomplete record (48 bytes; a run stopped while writing it) is cut off") {
		t.Errorf("stderr does not report the incomplete record:\n%s", errOut)
	}
	for _, c := range e.eng.Calls() {
		if strings.Contains(c.Request.Prompt, "Q one?") {
			t.Error("the question with a record ran again")
		}
	}
	data, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(data), whole) {
		t.Errorf("the complete record changed:\n%s", data)
	}
	recs := readBatchOutput(t, out)
	var ids []string
	for _, r := range byID(t, recs) {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"1", "2", "4"}) || recs[1].Status != "ok" || recs[2].Status != "ok" {
		t.Errorf("ids %v, records %+v", ids, recs)
	}
}

// TestBatchParallel checks --parallel answers questions at the same time: the
// tool server holds each request until all three have arrived.
func TestBatchParallel(t *testing.T) {
	var (
		mu       sync.Mutex
		inFlight int
		most     int
		all      = make(chan struct{})
	)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 3 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprintf(w, "<html><body><p>page %s</p></body></html>", r.URL.Path)
	}))
	t.Cleanup(gate.Close)
	plans := map[string]string{}
	for i := range 3 {
		plans[fmt.Sprintf("QPAR%d", i)] = fmt.Sprintf(" :evidence0: = TextScraper[%s/p%d]\nAnswer: :evidence0:\n", gate.URL, i)
	}
	e := newBatchEnv(t, plans)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	start := time.Now()
	_, errOut, code := runAgent(t, "QPAR0?\nQPAR1?\nQPAR2?\n", "batch", "--llm-url", e.llm.URL, "--parallel", "3", "--full", "-", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if most != 3 {
		t.Errorf("at most %d questions ran at once, want 3 (took %v)", most, time.Since(start))
	}
	recs := byID(t, readBatchOutput(t, out))
	for i := range 3 {
		r := recs[fmt.Sprint(i+1)]
		want := fmt.Sprintf("page /p%d", i)
		if r.Status != "ok" || !strings.HasSuffix(r.Answer, want) || len(r.Steps) != 1 || r.Steps[0].Output == nil ||
			*r.Steps[0].Output != r.Answer || r.Steps[0].Bytes != len(r.Answer) || r.Prompt == "" {
			t.Errorf("record %d (--full): %+v", i+1, r)
		}
	}
}

// TestBatchBadOutput checks an output file a batch did not write, or one that
// answers other questions under the same ids, stops the job before it starts and
// is left as it was.
func TestBatchBadOutput(t *testing.T) {
	e := newBatchEnv(t, nil)
	in := writeFile(t, "q.txt", "Q one?\nQ two?\n")
	tests := []struct {
		name, content, err string
	}{
		{"not JSON", `{"id":"1","question":"Q one?","status":"ok"}` + "\nhello\n{}\n", "out.jsonl:2: not a batch record (invalid character 'h'"},
		{"no id", "\n" + `{"question":"Q one?"}` + "\n", "out.jsonl:2: not a batch record (it has no id)"},
		{"another question", `{"id":"2","question":"Q three?","status":"ok"}` + "\n", `q.txt:2: id "2" was asked "Q three?" in`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := writeFile(t, "out.jsonl", tt.content)
			_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out)
			if code != 2 || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stderr:\n%s\nwant 2 and %q", code, errOut, tt.err)
			}
			if data, _ := os.ReadFile(out); string(data) != tt.content {
				t.Errorf("the output file changed to %q", data)
			}
		})
	}
	if len(e.eng.Calls()) != 0 {
		t.Error("a question ran")
	}
	_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, in)
	if code != 2 || !strings.Contains(errOut, "is both the questions and the output") {
		t.Errorf("same file: exit %d\n%s", code, errOut)
	}
}

// TestBatchBadInput checks a bad question file stops the command with exit 2
// and the problems with their lines, before any model is asked.
func TestBatchBadInput(t *testing.T) {
	e := newBatchEnv(t, nil)
	in := writeFile(t, "q.jsonl", `{"id": "a", "question": "Who?"}`+"\n{oops\n")
	out := filepath.Join(t.TempDir(), "out.jsonl")
	_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, in, out)
	if code != 2 || !strings.Contains(errOut, "q.jsonl:2: not a JSON object") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the output file was created")
	}
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{in}, "want QUESTIONS and OUT.jsonl"},
		{[]string{"--parallel", "0", "-", out}, "--parallel 0: want 1 or more"},
		{[]string{filepath.Join(t.TempDir(), "none"), out}, "no such file"},
		{[]string{"-", "/dev/null"}, "/dev/null is not a regular file"},
		{[]string{"-", t.TempDir()}, "is a directory"},
	} {
		_, errOut, code := runAgent(t, "Q?\n", append([]string{"batch"}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.err) {
			t.Errorf("%v: exit %d\n%s\nwant 2 and %q", tt.args, code, errOut, tt.err)
		}
	}
}

// TestBatchDeadline checks the job's deadline stops it with the unfinished
// questions unrecorded, not recorded as timed out.
func TestBatchDeadline(t *testing.T) {
	e := newBatchEnv(t, nil)
	e.eng.Delay = 20 * time.Millisecond // askPlan takes over a second
	out := filepath.Join(t.TempDir(), "out.jsonl")
	start := time.Now()
	_, errOut, code := runAgent(t, "Q one?\nQ two?\n", "batch", "--llm-url", e.llm.URL, "--deadline", "300ms", "-", out)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the job took %v past its deadline", took)
	}
	for _, s := range []string{"0 of 2 run", "2 questions have no record (1 stopped while running, 1 not started)",
		"batch: the job's deadline (300ms, --deadline) passed"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	if code != 1 || len(readBatchOutput(t, out)) != 0 {
		t.Errorf("exit %d, records %+v; want 1 and none", code, readBatchOutput(t, out))
	}
}

// TestBatchStdout checks OUT - streams the records to stdout, creating no file
// called -, and that --retry-failed, which needs records to read back, is
// refused there.
func TestBatchStdout(t *testing.T) {
	e := newBatchEnv(t, map[string]string{"QBROKEN": " :evidence0: = DuckDuckGoo[x]\nAnswer: :evidence0:\n"})
	t.Chdir(t.TempDir())
	stdout, errOut, code := runAgent(t, "Who won the Nobel Prize in Literature in 2020?\nQBROKEN plan?\n", "batch", "--llm-url", e.llm.URL, "-", "-")
	if code != 1 || !strings.Contains(errOut, "2 to run (1 at a time), records on stdout") {
		t.Errorf("exit %d, want 1 (a question failed)\n%s", code, errOut)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("a file called - was written")
	}
	path := filepath.Join(t.TempDir(), "stdout.jsonl")
	os.WriteFile(path, []byte(stdout), 0o644)
	recs := byID(t, readBatchOutput(t, path))
	if len(recs) != 2 || recs["1"].Status != "ok" || recs["2"].Status != "bad_plan" {
		t.Errorf("stdout records: %+v", recs)
	}
	calls := len(e.eng.Calls())
	_, errOut, code = runAgent(t, "Q?\n", "batch", "--llm-url", e.llm.URL, "--retry-failed", "-", "-")
	if code != 2 || !strings.Contains(errOut, "--retry-failed: a stream has no records to read back: give an output file") {
		t.Errorf("--retry-failed to stdout: exit %d\n%s", code, errOut)
	}
	if n := len(e.eng.Calls()) - calls; n != 0 {
		t.Errorf("the refused job made %d engine calls", n)
	}
}

// TestBatchReasonsWhole checks a failure's reason is kept whole in its record
// and on stderr, --quiet included, while --quiet drops the lines of answers.
func TestBatchReasonsWhole(t *testing.T) {
	e := newBatchEnv(t, nil)
	long := "/missing-" + strings.Repeat("page-of-a-very-long-name-", 12)
	e.eng.Replies = append([]plannertest.Reply{{Match: "QFAIL",
		Text: " :evidence0: = TextScraper[" + e.web.URL + long + "]\nAnswer: :evidence0:\n"}}, e.eng.Replies...)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	_, errOut, code := runAgent(t, "Who won the Nobel Prize in Literature in 2020?\nQFAIL page?\n", "batch", "--llm-url", e.llm.URL, "--quiet", "-", out)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	recs := byID(t, readBatchOutput(t, out))
	failed := recs["2"]
	if failed.Status != "failed" || !strings.Contains(failed.Error, long) || !strings.Contains(failed.Steps[0].Error, long) {
		t.Fatalf("the record's reason is not whole: %q, step %q", failed.Error, failed.Steps[0].Error)
	}
	var reported []string
	for _, l := range strings.Split(errOut, "\n") {
		if rest, ok := strings.CutPrefix(l, "    "); ok {
			reported = append(reported, rest)
		}
	}
	if got := strings.Join(reported, "\n"); !strings.HasPrefix(got, failed.Error) {
		t.Errorf("stderr (--quiet) does not hold the whole reason %q:\n%s", failed.Error, errOut)
	}
	if !strings.Contains(errOut, "failed   2 (") || strings.Contains(errOut, "ok       1") || strings.Contains(errOut, "…") {
		t.Errorf("--quiet progress:\n%s", errOut)
	}
}

// TestBatchStdinInterrupt checks Ctrl-C while the questions are read from a
// stdin that sends nothing stops the command.
func TestBatchStdinInterrupt(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var errOut bytes.Buffer
	err := run(ctx, stdio{r, io.Discard, &errOut}, []string{"batch", "-", filepath.Join(t.TempDir(), "out.jsonl")})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 130 || !strings.Contains(err.Error(), "interrupted while reading the questions") {
		t.Errorf("error %v, want exit 130", err)
	}
}
