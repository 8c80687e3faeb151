package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/research"
)

// TestSubmitWork submits a job twice (the second adds nothing), answers it
// with a worker in this process, and checks each question has one ok result,
// the shared lookup was made once and each notice once with its key; then a
// second job over the same tools is answered from the cache.
func TestSubmitWork(t *testing.T) {
	for name, dsn := range map[string]func(*testing.T) string{"sqlite": sqliteDSN, "postgres": postgresDSN} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := openQueue(t, dsn(t))
			w := newWorld(t, 0)
			job := w.job("first", 6, 10*time.Second)
			s, err := q.Submit(ctx, job)
			if err != nil || s.Added != 6 || s.Already != 0 {
				t.Fatalf("submit: %+v, %v", s, err)
			}
			if s, err := q.Submit(ctx, job); err != nil || s.Added != 0 || s.Already != 6 {
				t.Fatalf("submitting again: %+v, %v", s, err)
			}
			if p, err := q.Progress(ctx, "first"); err != nil || p.Waiting != 6 || p.Running != 0 || p.Results != 0 {
				t.Fatalf("progress before the work: %+v, %v", p, err)
			}
			changed := w.job("first", 7, 10*time.Second)
			if _, err := q.Submit(ctx, changed); !errors.Is(err, ErrJobChanged) {
				t.Fatalf("submitting a changed job: %v", err)
			}
			work(t, q, "first")
			res, err := q.Results(ctx, "first")
			if err != nil || len(res) != 6 {
				t.Fatalf("%d results, %v", len(res), err)
			}
			for _, r := range res {
				if r.Record.Status != "ok" || r.Record.Answer == "" {
					t.Errorf("%s: %s %q %s", r.Record.ID, r.Record.Status, r.Record.Answer, r.Record.Error)
				}
			}
			if w.lookups["facts"] != 1 || len(w.notices) != 6 || w.noKey != 0 {
				t.Errorf("lookups %v, notices %v (%d without a key)", w.lookups, w.notices, w.noKey)
			}
			for k, n := range w.notices {
				if n != 1 {
					t.Errorf("notice %s sent %d times", k, n)
				}
			}
			p, err := q.Progress(ctx, "first")
			if err != nil || !p.Done() || p.ByStatus["ok"] != 6 || p.CacheHits != 5 {
				t.Errorf("progress %+v, %v", p, err)
			}

			// The next job hits the cache for every lookup.
			if _, err := q.Submit(ctx, w.job("second", 3, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			work(t, q, "second")
			p, err = q.Progress(ctx, "second")
			if err != nil || !p.Done() || p.CacheHits != 3 || w.lookups["facts"] != 1 {
				t.Errorf("second job: progress %+v, %v; lookups %v", p, err, w.lookups)
			}
		})
	}
}

// work runs a worker until job is done.
func work(t *testing.T, q *Queue, job string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wk := &Worker{Queue: q, Open: openPlanner(q), Parallel: 2, UntilDone: job, Poll: 50 * time.Millisecond}
	if err := wk.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("job %s not done in a minute", job)
	}
}

// TestTwoEndpoints answers a job over two engine endpoints: both serve, and
// when one dies midway the job carries on over the other, every question ok.
func TestTwoEndpoints(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	w := newWorld(t, time.Millisecond)
	second := &plannertest.Engine{Delay: time.Millisecond, Replies: w.eng.Replies}
	srv2 := second.NewServer()
	defer srv2.Close()
	job := w.job("two", 40, 10*time.Second)
	job.Spec.Engine.Endpoints = append(job.Spec.Engine.Endpoints, srv2.URL+"/v1")
	if _, err := q.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	results := 0
	wk := &Worker{Queue: q, Open: openPlanner(q), Parallel: 4, UntilDone: "two", Poll: 20 * time.Millisecond,
		OnResult: func(*Result) {
			results++
			if results == 10 {
				once.Do(func() { go srv2.Close() }) // the second server dies midway
			}
		}}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := wk.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("%v, %v", err, ctx.Err())
	}
	p, err := q.Progress(ctx, "two")
	if err != nil || p.ByStatus["ok"] != 40 {
		t.Fatalf("progress %+v, %v", p, err)
	}
	n1, n2 := len(w.eng.Calls()), len(second.Calls())
	if n1 == 0 || n2 == 0 {
		t.Errorf("the endpoints served %d and %d generations", n1, n2)
	}
	t.Logf("the first endpoint served %d generations, the second %d before it died", n1, n2)
}

// TestExport answers a job and exports it: per question Markdown and JSON,
// the summary, JSONL in the job's order, and the progress bar.
func TestExport(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	w := newWorld(t, 0)
	job := w.job("export", 3, 10*time.Second)
	job.Questions[1].ID = "a/b" // no file name
	if _, err := q.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	p, err := q.Progress(ctx, "export")
	if err != nil || p.Done() || p.Waiting != 3 || p.Running != 0 || !strings.Contains(Bar(p, 60), "0/3   0%") {
		t.Fatalf("before: %+v %q, %v", p, Bar(p, 60), err)
	}
	work(t, q, "export")
	dir := t.TempDir()
	s, err := q.Export(ctx, "export", dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Questions != 3 || s.OK != 3 || s.Failed != 0 || s.Cache != 2 || len(s.Missing) != 0 || s.Elapsed <= 0 {
		t.Errorf("summary %+v", s)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 8 {
		t.Errorf("files %q", files)
	}
	md, err := os.ReadFile(filepath.Join(dir, "q000.md"))
	if err != nil || !strings.Contains(string(md), "# question 0?") || !strings.Contains(string(md), "## Answer\n\nnoted ") ||
		!strings.Contains(string(md), "| #E1 | Lookup |") && !strings.Contains(string(md), "| :evidence0: | Lookup |") {
		t.Errorf("q000.md: %v\n%s", err, md)
	}
	var r struct {
		ID, Status string
		CacheHits  int `json:"cache_hits"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "q002.json"))
	if err := json.Unmarshal(data, &r); err != nil || r.ID != "q002" || r.Status != "ok" {
		t.Errorf("q002.json: %v %+v", err, r)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(sum), "| 3 | 3 | 3 | 0 | 0 |") {
		t.Errorf("summary.md:\n%s", sum)
	}
	var b bytes.Buffer
	if _, err := q.ExportJSONL(ctx, "export", &b); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for l := range strings.Lines(b.String()) {
		var rec research.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	if strings.Join(ids, ",") != "q000,a/b,q002" {
		t.Errorf("JSONL ids %v", ids)
	}
	// The export is a journal agent batch resumes from.
	path := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(path, b.Bytes(), 0o644)
	j, err := research.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if plan, err := j.Plan(job.Questions, false); err != nil || len(plan.Todo) != 0 || plan.Skipped != 3 {
		t.Errorf("batch's plan over the export: %+v, %v", plan, err)
	}
	p, _ = q.Progress(ctx, "export")
	if p.Waiting != 0 || p.Running != 0 {
		t.Errorf("after the job: %d waiting, %d running", p.Waiting, p.Running)
	}
	if bar := Bar(p, 60); !strings.HasPrefix(bar, "[####") || !strings.Contains(bar, "3/3 100% ok 3 done") {
		t.Errorf("bar %q", bar)
	}
	if _, err := q.Progress(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("progress of no job: %v", err)
	}
}

// TestGaveUp checks a question whose attempts ran out (their workers died)
// ends with a failed result saying so, rather than being dropped.
func TestGaveUp(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	job := &Job{ID: "doomed", Questions: []research.Question{{ID: "1", Text: "why?"}}, Spec: Spec{Limits: Limits{MaxAttempts: 2}}}
	if _, err := q.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	// Two attempts were taken and their workers died.
	if _, err := q.b.exec(ctx, `UPDATE river_job SET attempt = 2`); err != nil {
		t.Fatal(err)
	}
	asked := 0
	wk := &Worker{Queue: q, UntilDone: "doomed", Poll: 20 * time.Millisecond,
		Open: func(context.Context, *StoredJob) (research.Asker, func(), error) { asked++; return shouter{}, nil, nil }}
	runUntil(t, wk)
	res, err := q.Results(ctx, "doomed")
	if err != nil || len(res) != 1 {
		t.Fatalf("%d results, %v", len(res), err)
	}
	if r := res[0]; r.Record.Status != research.StatusFailed || r.Attempt != 3 || asked != 0 ||
		!strings.Contains(r.Record.Error, ErrGaveUp.Error()+": 2 attempts") {
		t.Errorf("result %+v, opened %d times", r, asked)
	}
}

// TestOpenError checks a worker that cannot open a job's engine and tools
// stops, saying why, and leaves the question in the queue for another.
func TestOpenError(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	job := &Job{ID: "j", Questions: []research.Question{{ID: "1", Text: "why?"}}}
	if _, err := q.Submit(ctx, job); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("no language model")
	wk := &Worker{Queue: q, UntilDone: "j", Poll: 20 * time.Millisecond,
		Open: func(context.Context, *StoredJob) (research.Asker, func(), error) { return nil, nil, broken }}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := wk.Run(ctx)
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Job != "j" || !errors.Is(err, broken) || ctx.Err() != nil {
		t.Fatalf("%v", err)
	}
	if p, err := q.Progress(ctx, "j"); err != nil || p.Results != 0 || p.Running != 0 || p.Waiting != 1 {
		t.Fatalf("after the worker stopped: %+v, %v", p, err)
	}
	wk.Open = func(context.Context, *StoredJob) (research.Asker, func(), error) { return shouter{}, nil, nil }
	runUntil(t, wk)
	if res, err := q.Results(ctx, "j"); err != nil || len(res) != 1 || res[0].Record.Status != research.StatusOK {
		t.Errorf("another worker's results: %v, %v", res, err)
	}
}

// shouter answers in capitals.
type shouter struct{}

func (shouter) Ask(_ context.Context, q string) (*planner.Trace, error) {
	return &planner.Trace{Answer: &planner.Answer{Text: strings.ToUpper(q)}}, nil
}

// runUntil runs wk, which has UntilDone, for at most a minute.
func runUntil(t *testing.T, wk *Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wk.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("%v, %v", err, ctx.Err())
	}
}

// TestInterruptGivesBack stops a worker mid-question: the questions it held go
// back to the queue at once, and another worker answers them, each once. The
// engine holds its tokens back until the worker has stopped, so both questions are
// surely mid-plan when it does, however slow the machine.
func TestInterruptGivesBack(t *testing.T) {
	q := openQueue(t, sqliteDSN(t))
	w := newWorld(t, 20*time.Millisecond)
	w.eng.Hold = make(chan struct{})
	job := w.job("stopped", 4, time.Minute)
	if _, err := q.Submit(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wk := &Worker{Queue: q, Open: openPlanner(q), Parallel: 2, Poll: 20 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- wk.Run(ctx) }()
	for len(w.eng.Calls()) < 2 { // both questions are being planned
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(w.eng.Hold)
	p, err := q.Progress(context.Background(), "stopped")
	if err != nil || p.Running != 0 || p.Waiting+p.Results != 4 || p.Waiting == 0 {
		t.Fatalf("after the interrupt: %+v, %v", p, err)
	}
	work(t, q, "stopped")
	checkResults(t, q, job, w)
}
