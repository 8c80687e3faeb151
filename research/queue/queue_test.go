package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
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
