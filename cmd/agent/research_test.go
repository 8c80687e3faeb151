package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// researchEnv is a job file over a scripted model and a tools file whose
// Lookup (cached) and Notify (side effects) call a test server.
type researchEnv struct {
	dir, job, queue string
	llmURL          string
	eng             *plannertest.Engine

	mu      sync.Mutex
	lookups int
	keys    map[string]int
}

func newResearchEnv(t *testing.T) *researchEnv {
	t.Helper()
	e := &researchEnv{dir: t.TempDir(), keys: map[string]int{}}
	e.eng = &plannertest.Engine{Replies: []plannertest.Reply{{Text: " :evidence0: = Lookup[facts]\n :evidence1: = Notify[:evidence0:]\nAnswer: :evidence1:\n"}}}
	llm := e.eng.NewServer()
	t.Cleanup(llm.Close)
	e.llmURL = llm.URL
	mux := http.NewServeMux()
	mux.HandleFunc("/lookup", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.lookups++
		e.mu.Unlock()
		fmt.Fprint(w, "the facts")
	})
	mux.HandleFunc("/notify", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.keys[r.Header.Get("Idempotency-Key")]++
		e.mu.Unlock()
		fmt.Fprint(w, "noted")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	write := func(name, content string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("tools.yaml", fmt.Sprintf(`tools:
  - name: Lookup
    description: looks a topic up
    http: {url: "%[1]s/lookup?q={{ .Input | urlquery }}"}
  - name: Notify
    description: tells someone
    http: {url: "%[1]s/notify", method: POST, body: "{{ .Input }}"}
`, srv.URL))
	write("countries.csv", "code,name\nfr,France\nde,Germany\nit,Italy\n")
	e.job = write("capitals.yaml", fmt.Sprintf(`id: capitals
questions:
  template: "What is the capital of {{ .name }}?"
  id: "{{ .code }}"
  table: countries.csv
tools:
  file: tools.yaml
  settings:
    Lookup: {ttl: 1h}
    Notify: {side_effects: true}
engine:
  endpoints: [%s/v1]
limits: {timeout: 30s, parallel: 2}
`, llm.URL))
	e.queue = filepath.Join(e.dir, "queue.db")
	t.Setenv("AGENT_ALLOW_PRIVATE_NETWORKS", "1")
	t.Setenv("AGENT_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	return e
}

func (e *researchEnv) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), stdio{strings.NewReader(""), &out, &errOut}, args)
	return out.String(), errOut.String(), err
}

// TestResearch runs a job from its file in one process, runs it again (nothing
// is added or asked), then reads its status and exports it.
func TestResearch(t *testing.T) {
	e := newResearchEnv(t)
	_, stderr, err := e.run(t, "research", "--queue", e.queue, e.job)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"job capitals: 3 questions, 3 added", "ok       fr", "job capitals: 3 of 3 questions answered: 3 ok (0 partial), 0 failed", "2 cache hits"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	calls := len(e.eng.Calls())
	_, stderr, err = e.run(t, "research", "submit", "--queue", e.queue, e.job)
	if err != nil || !strings.Contains(stderr, "0 added") {
		t.Errorf("submitting again: %v\n%s", err, stderr)
	}
	if _, stderr, err = e.run(t, "research", "--queue", e.queue, e.job); err != nil || len(e.eng.Calls()) != calls {
		t.Errorf("running again: %v, %d more engine calls\n%s", err, len(e.eng.Calls())-calls, stderr)
	}
	if e.lookups != 1 || len(e.keys) != 3 {
		t.Errorf("%d lookups, notices %v", e.lookups, e.keys)
	}
	stdout, _, err := e.run(t, "research", "status", "--queue", e.queue, "capitals")
	if err != nil || !strings.Contains(stdout, "3/3 100% ok 3 done") {
		t.Errorf("status: %v %q", err, stdout)
	}
	dir := filepath.Join(e.dir, "out")
	if _, stderr, err := e.run(t, "research", "export", "--queue", e.queue, "capitals", dir); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	md, err := os.ReadFile(filepath.Join(dir, "de.md"))
	if err != nil || !strings.Contains(string(md), "# What is the capital of Germany?") {
		t.Errorf("de.md: %v\n%s", err, md)
	}
	stdout, _, err = e.run(t, "research", "export", "--queue", e.queue, "capitals", "-")
	var ids []string
	for l := range strings.Lines(stdout) {
		var r struct{ ID string }
		json.Unmarshal([]byte(l), &r)
		ids = append(ids, r.ID)
	}
	if err != nil || strings.Join(ids, ",") != "fr,de,it" {
		t.Errorf("export -: %v %v", err, ids)
	}
	_, _, err = e.run(t, "research", "status", "--queue", e.queue, "nope")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "no such job") {
		t.Errorf("status of no job: %v", err)
	}
}

// TestResearchBadJob checks a bad job file is a usage error naming its place.
func TestResearchBadJob(t *testing.T) {
	e := newResearchEnv(t)
	bad := filepath.Join(e.dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: x\nquestions:\n  lst: [a]\n"), 0o644)
	_, _, err := e.run(t, "research", "submit", "--queue", e.queue, bad)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "bad.yaml:3:3: unknown field \"lst\"") {
		t.Errorf("%v", err)
	}
}

// TestResearchSubmitWorker submits a job and answers it with a separate
// worker command that stops once the job is done.
func TestResearchSubmitWorker(t *testing.T) {
	e := newResearchEnv(t)
	if _, stderr, err := e.run(t, "research", "submit", "--queue", e.queue, e.job); err != nil || !strings.Contains(stderr, "3 added") {
		t.Fatalf("submit: %v\n%s", err, stderr)
	}
	stdout, _, err := e.run(t, "research", "status", "--queue", e.queue, "capitals")
	if err != nil || !strings.Contains(stdout, "0/3   0%") {
		t.Errorf("status before: %v %q", err, stdout)
	}
	_, stderr, err := e.run(t, "research", "worker", "--queue", e.queue, "--parallel", "3", "--until-done", "capitals")
	if err != nil || !strings.Contains(stderr, "worker on sqlite, 3 at a time") || strings.Count(stderr, " ok ") != 3 {
		t.Errorf("worker: %v\n%s", err, stderr)
	}
	if _, _, err := e.run(t, "research", "worker", "--queue", e.queue, "--parallel", "0"); err == nil {
		t.Error("--parallel 0 accepted")
	}
}

// TestResearchConfiguredEngine answers a job that names no endpoints with the
// configured engine (here a server given by --llm-url).
func TestResearchConfiguredEngine(t *testing.T) {
	e := newResearchEnv(t)
	data, _ := os.ReadFile(e.job)
	job := strings.Replace(string(data), "endpoints: ["+e.llmURL+"/v1]", "endpoints: []", 1)
	if job == string(data) {
		t.Fatal("the job file has no endpoints to drop")
	}
	os.WriteFile(e.job, []byte(job), 0o644)
	// Without one the worker stops at once, saying why; the questions wait.
	if _, stderr, err := e.run(t, "research", "--queue", e.queue, e.job); err == nil || !strings.Contains(err.Error(), "opening the engine and tools of job capitals: no language model") {
		t.Errorf("without an engine: %v\n%s", err, stderr)
	}
	_, stderr, err := e.run(t, "research", "--queue", e.queue, "--llm-url", e.llmURL, e.job)
	if err != nil || !strings.Contains(stderr, "3 of 3 questions answered: 3 ok") {
		t.Errorf("%v\n%s", err, stderr)
	}
}
