package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rewoo-agent/agent/research"
)

// OpenAsker opens the asker of a job for a worker, which calls it once per
// job it takes questions of and calls close (when not nil) as it stops. The
// opener wraps the job's tools with Queue.Tools, so that their results are
// shared and their side effects guarded.
type OpenAsker func(ctx context.Context, job *StoredJob) (a research.Asker, close func(), err error)

// Worker answers questions from a queue, any job's, until its context ends
// or, with UntilDone, that job has a result for every question. Workers join
// and leave at any time; a question whose worker dies goes back to the queue
// when its lease (the job's time limit and a grace) runs out and River's
// rescuer finds it.
type Worker struct {
	Queue *Queue
	Open  OpenAsker
	// ID names the worker in results; empty is host-pid.
	ID string
	// Parallel is how many questions it answers at once; below 1 is 1.
	Parallel int
	// UntilDone, when not empty, is a job id: the worker stops once the job
	// has all its results.
	UntilDone string
	// RescueAfter is how long a question may be held before a rescuer looks at
	// it (its own lease must have run out too); 0 is one minute.
	RescueAfter time.Duration
	// Poll is how often the queue is polled for questions and for the end of
	// UntilDone's job; 0 is one second.
	Poll time.Duration
	// OnResult, when not nil, is called after each result this worker stored,
	// one call at a time.
	OnResult func(*Result)
	// Logger gets River's log; nil drops it.
	Logger *slog.Logger
}

// OpenError stops a worker that cannot open a job's asker (its engine or
// tools): the question goes back to the queue, for workers that can.
type OpenError struct {
	Job string
	Err error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("opening the engine and tools of job %s: %v", e.Job, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// ErrGaveUp is the error of a result recorded without an answer because the
// question's attempts ran out (its workers died, or the store failed, each time).
var ErrGaveUp = errors.New("the question's attempts ran out")

// Run works until ctx ends (the questions it holds go back to the queue),
// UntilDone's job is done, or a job's asker cannot be opened (*OpenError).
func (w *Worker) Run(ctx context.Context) error {
	id := w.ID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	h := &handler{q: w.Queue, open: w.Open, worker: id, onResult: w.OnResult, askers: map[string]*opened{}, fatal: make(chan error, 1)}
	defer h.closeAll()
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, h); err != nil {
		return err
	}
	rescue := w.RescueAfter
	if rescue <= 0 {
		rescue = time.Minute
	}
	poll := w.Poll
	if poll <= 0 {
		poll = time.Second
	}
	logger := w.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := w.Queue.b.newClient(&river.Config{
		ID:                   id,
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{riverQueue: {MaxWorkers: max(w.Parallel, 1)}},
		FetchPollInterval:    poll,
		FetchCooldown:        min(poll, 100*time.Millisecond),
		RescueStuckJobsAfter: rescue,
		JobTimeout:           rescue / 2, // each question's own lease overrides it
		RetryPolicy:          retrySoon{},
		Logger:               logger,
	})
	if err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	err = w.wait(ctx, poll, h.fatal)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var oerr *OpenError
	if ctx.Err() != nil || errors.As(err, &oerr) {
		c.StopAndCancel(stopCtx)
		return err
	}
	if serr := c.Stop(stopCtx); serr != nil && err == nil {
		err = fmt.Errorf("stopping the worker: %w", serr)
	}
	return err
}

// wait waits for ctx's end, a fatal error, or UntilDone's job to be done.
func (w *Worker) wait(ctx context.Context, poll time.Duration, fatal <-chan error) error {
	if w.UntilDone == "" {
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		p, err := w.Queue.Progress(ctx, w.UntilDone)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && p.Done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		case <-t.C:
		}
	}
}

// retrySoon takes a question up again soon after an attempt that did not end
// with a result: the attempt was cut off (a worker stopping, its lease run
// out), not a failure of the question, which is recorded instead.
type retrySoon struct{}

func (retrySoon) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(min(time.Duration(job.Attempt)*time.Second, 30*time.Second))
}

// handler is the River worker of questions.
type handler struct {
	river.WorkerDefaults[questionArgs]
	q        *Queue
	open     OpenAsker
	worker   string
	onResult func(*Result)
	resultMu sync.Mutex // one onResult at a time

	mu     sync.Mutex // guards askers; held while one opens
	askers map[string]*opened
	// fatal gets the first error that stops the worker.
	fatal chan error
}

type opened struct {
	job   *StoredJob
	a     research.Asker
	close func()
}

// Timeout is the question's lease: River cancels it then, and its rescuer
// gives a question whose worker died back to the queue only after it.
func (h *handler) Timeout(job *river.Job[questionArgs]) time.Duration {
	return time.Duration(job.Args.LeaseMS) * time.Millisecond
}

func (h *handler) asker(ctx context.Context, id string) (*opened, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.askers[id]; ok {
		return o, nil
	}
	job, err := h.q.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	// The asker outlives this question: it serves the job's others.
	a, closeFn, err := h.open(context.WithoutCancel(ctx), job)
	if err != nil {
		return nil, err
	}
	o := &opened{job: job, a: a, close: closeFn}
	h.askers[id] = o
	return o, nil
}

func (h *handler) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.askers {
		if o.close != nil {
			o.close()
		}
	}
}

func (h *handler) Work(ctx context.Context, job *river.Job[questionArgs]) error {
	a := job.Args
	q := research.Question{ID: a.Question, Text: a.Text, File: a.File, Line: a.Line}
	var n int
	err := h.q.b.db.QueryRowContext(ctx, h.q.b.q(`SELECT count(*) FROM agent_research_result WHERE job = $1 AND question = $2`), a.Job, a.Question).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil // answered by a worker whose lease had run out
	}
	started := time.Now()
	if job.Attempt > a.MaxAttempts {
		return h.record(ctx, job, gaveUp(q, started, fmt.Errorf("%w: %d attempts", ErrGaveUp, job.Attempt-1)), 0)
	}
	o, err := h.asker(ctx, a.Job)
	if err != nil {
		if ctx.Err() == nil {
			// This worker cannot answer the job: it stops, and the question
			// goes back to the queue for a worker that can.
			err = &OpenError{Job: a.Job, Err: err}
			select {
			case h.fatal <- err:
			default:
			}
		}
		return err
	}
	lim := o.job.Spec.Limits
	r := &research.Runner{Timeout: lim.timeout(), TimeoutSetting: "limits.timeout", Full: lim.Full}
	qc := &call{job: a.Job, question: a.Question}
	rec, err := r.Answer(withCall(ctx, qc), o.a, q)
	if err != nil {
		return err // cut short: the question goes back to the queue
	}
	return h.record(ctx, job, rec, int(qc.hits.Load()))
}

func gaveUp(q research.Question, started time.Time, err error) *research.Record {
	return &research.Record{ID: q.ID, Question: q.Text, Status: research.StatusFailed, Error: err.Error(), Started: started}
}

// record keeps rec as the question's result and completes its job in one
// transaction. A result already there (a worker that outlived its lease) is
// kept, and this one dropped.
func (h *handler) record(ctx context.Context, job *river.Job[questionArgs], rec *research.Record, hits int) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	res := &Result{Record: *rec, CacheHits: hits, Attempt: job.Attempt, Worker: h.worker, Finished: time.Now()}
	var stored bool
	ctx = context.WithoutCancel(ctx) // the answer is there: keep it
	err = h.q.b.complete(ctx, job, func(ctx context.Context, exec execFunc) error {
		n, err := exec(ctx, `INSERT INTO agent_research_result
			(job, question, status, record, prompt_tokens, generated_tokens, cache_hits, attempt, worker, seconds, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (job, question) DO NOTHING`,
			job.Args.Job, rec.ID, rec.Status, string(data), rec.Tokens.Prompt, rec.Tokens.Generated, hits,
			job.Attempt, h.worker, res.Finished.Sub(rec.Started).Seconds(), res.Finished.UnixMilli())
		stored = n > 0
		return err
	})
	if err != nil {
		return fmt.Errorf("recording %s/%s: %w", job.Args.Job, rec.ID, err)
	}
	if stored && h.onResult != nil {
		h.resultMu.Lock()
		defer h.resultMu.Unlock()
		h.onResult(res)
	}
	return nil
}

// call is the question a tool call is made for, carried in its context.
type call struct {
	job, question string
	hits          atomic.Int64 // results taken from the cache
	mu            sync.Mutex
	seen          map[string]int // calls so far of each tool and input
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}
