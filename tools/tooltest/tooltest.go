// Package tooltest provides fake tools for tests: Slow (answers after a delay),
// Failing (always fails), Flaky (fails transiently a few times, then answers) and
// Recorder (wraps any tool and records its calls and how many overlapped).
//
// Unless told otherwise a fake answers "Name(input)", so a test can see exactly
// what input a step received.
package tooltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// echo is the default answer of every fake.
func echo(name string, req tools.Request) tools.Output {
	return tools.Output{Text: fmt.Sprintf("%s(%s)", name, req.Input)}
}

// Slow answers after Delay, or fails with the context's error if ctx ends first.
type Slow struct {
	ToolName string
	Delay    time.Duration
	// Reply computes the answer; nil echoes "Name(input)".
	Reply func(tools.Request) tools.Output
}

var _ tools.Tool = (*Slow)(nil)

func (s *Slow) Name() string        { return s.ToolName }
func (s *Slow) Description() string { return "answers after " + s.Delay.String() }

func (s *Slow) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	t := time.NewTimer(s.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return tools.Output{}, ctx.Err()
	case <-t.C:
	}
	if s.Reply != nil {
		return s.Reply(req), nil
	}
	return echo(s.ToolName, req), nil
}

// ErrFake is the error Failing returns when Err is nil.
var ErrFake = errors.New("tooltest: fake failure")

// Failing fails every call with Err (ErrFake when nil).
type Failing struct {
	ToolName string
	Err      error
}

var _ tools.Tool = (*Failing)(nil)

func (f *Failing) Name() string        { return f.ToolName }
func (f *Failing) Description() string { return "always fails" }

func (f *Failing) Call(context.Context, tools.Request) (tools.Output, error) {
	if f.Err != nil {
		return tools.Output{}, f.Err
	}
	return tools.Output{}, ErrFake
}

// ErrBusy is the transient error Flaky fails with.
var ErrBusy = errors.New("tooltest: busy, try again")

// Flaky fails its first Failures calls with tools.Transient(ErrBusy), then echoes.
type Flaky struct {
	ToolName string
	Failures int
	calls    atomic.Int64
}

var _ tools.Tool = (*Flaky)(nil)

func (f *Flaky) Name() string        { return f.ToolName }
func (f *Flaky) Description() string { return "fails transiently at first" }

func (f *Flaky) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	if n := f.calls.Add(1); n <= int64(f.Failures) {
		return tools.Output{}, tools.Transient(fmt.Errorf("call %d: %w", n, ErrBusy))
	}
	return echo(f.ToolName, req), nil
}

// Calls returns how many times the tool was called.
func (f *Flaky) Calls() int { return int(f.calls.Load()) }

// Call is one recorded call.
type Call struct {
	Req        tools.Request
	Start, End time.Time
	Out        tools.Output
	Err        error
}

// Recorder wraps Tool, recording every call. It is safe for concurrent use.
type Recorder struct {
	Tool tools.Tool

	mu          sync.Mutex
	calls       []Call
	inFlight    int
	maxInFlight int
}

var _ tools.Tool = (*Recorder)(nil)

func (r *Recorder) Name() string        { return r.Tool.Name() }
func (r *Recorder) Description() string { return r.Tool.Description() }

func (r *Recorder) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	r.mu.Lock()
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.mu.Unlock()
	start := time.Now()
	out, err := r.Tool.Call(ctx, req)
	r.mu.Lock()
	r.inFlight--
	r.calls = append(r.calls, Call{Req: req, Start: start, End: time.Now(), Out: out, Err: err})
	r.mu.Unlock()
	return out, err
}

// Calls returns the finished calls in the order they finished.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// MaxInFlight returns the largest number of calls that ran at the same time.
func (r *Recorder) MaxInFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxInFlight
}
