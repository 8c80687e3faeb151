package research

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/tools"
)

// Asker answers one question; the trace says how, and is kept in the record
// even when err is not nil. On success the trace holds the answer (without
// one the record fails with ErrNoAnswer). Several calls may run at once.
type Asker interface {
	Ask(ctx context.Context, question string) (*planner.Trace, error)
}

// Opener gives the asker of a job. Run calls it once, and only when the job has
// questions to answer, under the job's deadline: loading a model counts.
type Opener func(ctx context.Context) (Asker, error)

// Store keeps a job's records. Append is called one record at a time; an error
// stops the job. Journal and Stream are Stores.
type Store interface {
	Append(ctx context.Context, rec *Record) error
}

// The ends of a job other than success, from Summary.Err.
var (
	// ErrFailed: a question's newest record is not ok.
	ErrFailed = errors.New("some questions failed (their records say why)")
	// ErrDeadline: the job's deadline passed with questions unanswered; it is
	// also the cause of the job's context then.
	ErrDeadline = errors.New("the job's deadline passed")
	// ErrInterrupted: the job's context ended with questions unanswered.
	ErrInterrupted = errors.New("interrupted")
	// ErrNoAnswer is a failed record's error when the asker gave neither an
	// answer nor an error.
	ErrNoAnswer = errors.New("the asker gave no answer and no error")
	// ErrStopped is wrapped by Answer when the job's end cut the question short.
	ErrStopped = errors.New("the job stopped before the question was answered")
)

// TimeLimitError ends a question's context when Runner.Timeout passes.
type TimeLimitError struct {
	Limit time.Duration
	// Setting names where the limit was set, e.g. "--timeout".
	Setting string
}

func (e *TimeLimitError) Error() string {
	s := fmt.Sprintf("ran out of time: the limit is %s", e.Limit)
	if e.Setting != "" {
		s += " (" + e.Setting + ")"
	}
	return s
}

// WithTimeLimit bounds ctx by d, none when d <= 0. limit, a *TimeLimitError
// naming setting, is the cause of ctx's end when d ends it; nil without a limit.
func WithTimeLimit(ctx context.Context, d time.Duration, setting string) (_ context.Context, cancel context.CancelFunc, limit error) {
	if d <= 0 {
		return ctx, func() {}, nil
	}
	limit = &TimeLimitError{Limit: d, Setting: setting}
	ctx, cancel = context.WithTimeoutCause(ctx, d, limit)
	return ctx, cancel, limit
}

// TimedOut reports whether limit, from WithTimeLimit, ended ctx.
func TimedOut(ctx context.Context, limit error) bool {
	return limit != nil && errors.Is(context.Cause(ctx), limit)
}

// Runner answers a job's questions into a Store. The zero value answers one
// question at a time without limits.
type Runner struct {
	// Parallel is how many questions are answered at once; below 1 is 1.
	Parallel int
	// Timeout is each question's time limit; 0 is none. A question that runs
	// out of it is recorded with StatusTimeout.
	Timeout time.Duration
	// TimeoutSetting names where Timeout was set, in a timed-out record's error.
	TimeoutSetting string
	// Deadline is the whole job's time limit, from Run's start; 0 is none. The
	// questions it cuts short stay unrecorded, for the next run.
	Deadline time.Duration
	// Full keeps the prompt and each step's output and resolved input.
	Full bool
	// OnRecord, when not nil, is called after each record is stored, one call
	// at a time, in the order of the store, with the tally so far.
	OnRecord func(rec *Record, t Tally)
}

// Tally counts what a job did.
type Tally struct {
	Total                        int // questions to answer
	Recorded                     int
	Stopped                      int // questions the job's end cut short, unrecorded
	OK, BadPlan, Timeout, Failed int
	Partial, Blocked             int
	Tokens                       Tokens
}

func (t *Tally) add(rec *Record) {
	t.Recorded++
	switch rec.Status {
	case StatusOK:
		t.OK++
	case StatusBadPlan:
		t.BadPlan++
	case StatusTimeout:
		t.Timeout++
	case StatusPartial:
		t.Partial++
	case StatusBlocked:
		t.Blocked++
	default:
		t.Failed++
	}
	t.Tokens.Prompt += rec.Tokens.Prompt
	t.Tokens.Generated += rec.Tokens.Generated
}

// NotOK is the number of records not ok.
func (t Tally) NotOK() int { return t.Recorded - t.OK }

// Summary is what a job did.
type Summary struct {
	Plan *Plan
	Tally
	// Stop is why questions of Plan.Todo stayed unrecorded: the cause of the
	// job's context (ErrDeadline for the deadline). Nil when all were recorded,
	// or when an error stopped the job.
	Stop error
}

// Unrecorded is the number of questions to answer that have no record.
func (s *Summary) Unrecorded() int { return s.Total - s.Recorded }

// Err is the job's outcome: nil when every question has an ok record,
// ErrInterrupted or ErrDeadline when the job stopped early, ErrFailed when a
// question's newest record (this job's or one it skipped) is not ok.
func (s *Summary) Err() error {
	switch {
	case s.Stop != nil && errors.Is(s.Stop, ErrDeadline):
		return ErrDeadline
	case s.Stop != nil:
		return ErrInterrupted
	case s.NotOK() > 0 || s.Plan.SkippedFailed > 0:
		return ErrFailed
	}
	return nil
}

// Run answers p.Todo, r.Parallel at a time, with the asker of open, into st,
// until all are recorded or ctx ends or the deadline passes. The error is only
// for what stops the whole job (an asker that cannot be opened, a store that
// cannot be written); the summary is always returned.
func (r *Runner) Run(ctx context.Context, open Opener, st Store, p *Plan) (*Summary, error) {
	s := &Summary{Plan: p, Tally: Tally{Total: len(p.Todo)}}
	if len(p.Todo) == 0 {
		return s, nil
	}
	if r.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.Deadline, ErrDeadline)
		defer cancel()
	}
	defer func() {
		if s.Recorded < s.Total && ctx.Err() != nil {
			s.Stop = context.Cause(ctx)
		}
	}()
	a, err := open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return s, nil // stopped while opening: nothing ran
		}
		return s, err
	}
	var mu sync.Mutex // guards s and orders the records
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.Parallel, 1))
	for _, q := range p.Todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // not started
			}
			rec, err := r.Answer(gctx, a, q)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrStopped) {
				s.Stopped++
				return nil
			}
			if err := st.Append(context.WithoutCancel(gctx), rec); err != nil {
				return err
			}
			s.add(rec)
			if r.OnRecord != nil {
				r.OnRecord(rec, s.Tally)
			}
			return nil
		})
	}
	return s, g.Wait()
}

// Answer answers q with a under r.Timeout and gives its record. The error,
// wrapping ErrStopped, is only for a question that ctx's end cut short: that
// question has no record, and runs again in the next job.
func (r *Runner) Answer(ctx context.Context, a Asker, q Question) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
	}
	qctx, cancel, limit := WithTimeLimit(ctx, r.Timeout, r.TimeoutSetting)
	defer cancel()
	started := time.Now()
	tr, err := a.Ask(qctx, q.Text)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
	}
	if err == nil && (tr == nil || tr.Answer == nil) {
		err = ErrNoAnswer // an ok record always has its answer
	}
	rec := newRecord(q, started, tr, r.Full)
	switch {
	case err == nil && tr.Partial:
		rec.Status, rec.Partial = StatusPartial, true
		rec.Error = "partial: " + strings.Join(tr.Failures, "\n")
	case err == nil:
	case TimedOut(qctx, limit):
		rec.Status = StatusTimeout
	case errors.Is(err, planner.ErrBadPlan):
		rec.Status = StatusBadPlan
	case errors.Is(err, tools.ErrBlocked):
		rec.Status = StatusBlocked
	default:
		rec.Status = StatusFailed
	}
	if err != nil {
		rec.Error = err.Error()
		if rec.Status == StatusTimeout && !strings.Contains(rec.Error, limit.Error()) {
			rec.Error = limit.Error() + ": " + rec.Error
		}
	}
	return rec, nil
}
