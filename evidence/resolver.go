package evidence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

// Toolbox finds the tool a step calls; *tools.Registry is one.
type Toolbox interface {
	Get(name string) (tools.Tool, error)
}

var _ Toolbox = (*tools.Registry)(nil)

// OnFailure says what happens to the dependants of a failed step.
type OnFailure int

const (
	// SkipDependants skips every step that depends, directly or not, on a failed
	// step, with a reason; independent steps go on.
	SkipDependants OnFailure = iota
	// FailFast stops the whole run at the first failure: running steps are
	// cancelled, waiting ones skipped, and Run returns a *StepError.
	FailFast
	// RunDependants runs dependants anyway; a reference to failed evidence reads as
	// a note saying it failed (see Value.Content).
	RunDependants
)

// Defaults for the zero Options.
const (
	DefaultConcurrency = 8
	DefaultBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff  = 8 * time.Second
	// DefaultMaxInputBytes bounds one input after substitution: room for a
	// KnowledgeModel question over several long pages, which it fits into the
	// model's context anyway.
	DefaultMaxInputBytes = 4 << 20
	// DefaultMaxExpansion bounds what all the substitutions of a run produce
	// together, the answer's included.
	DefaultMaxExpansion = 32 << 20
)

// Options tune a run. The zero value is usable.
type Options struct {
	// Concurrency bounds the steps running at once (DefaultConcurrency when < 1).
	Concurrency int
	// ToolLimits bounds the running calls of a tool by name; a limit < 1 means none.
	ToolLimits map[string]int
	// StepTimeout bounds each step, retries included; 0 means no bound.
	StepTimeout time.Duration
	// Retries is how many times a call failing with a transient error (one that
	// says so, see tools.IsTransient) is tried again, waiting Backoff, then twice
	// that, up to MaxBackoff; or as long as the error asks (tools.RetryAfterOf,
	// a server's Retry-After) when it does. A wait that would pass StepTimeout is
	// not made: the step fails at once.
	Retries    int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnFailure picks what a failed step does to its dependants.
	OnFailure OnFailure
	// MaxBytes, when > 0, trims each tool answer to that many bytes (see Trim).
	MaxBytes int
	// MaxInputBytes bounds a step's input, and the answer, after substitution
	// (DefaultMaxInputBytes when 0, none when < 0); MaxExpansion bounds the
	// bytes the substitutions of the whole run produce together, the answer's
	// included (DefaultMaxExpansion when 0, none when < 0). A step that would
	// pass either fails without running, its error wrapping ErrTooLarge; so does
	// an answer (Result.Answer). A plan that cites large evidence thousands of
	// times, or doubles it step after step, ends there instead of in memory.
	MaxInputBytes int
	MaxExpansion  int
	// OnEvent, when set, receives every event of the run, one call at a time (it
	// need not be safe for concurrent use) and in order per step. It must not block
	// for long: the step that emitted it waits.
	OnEvent func(Event)
}

// EventKind names what happened to a step.
type EventKind int

const (
	EventStarted  EventKind = iota // the step's first tool call began
	EventRetrying                  // a call failed transiently; the next comes after Delay
	EventFinished                  // the step produced evidence
	EventFailed                    // the step failed
	EventSkipped                   // the step will not run
)

func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventRetrying:
		return "retrying"
	case EventFinished:
		return "finished"
	case EventFailed:
		return "failed"
	case EventSkipped:
		return "skipped"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened during a run.
type Event struct {
	Kind     EventKind
	Step     string
	Tool     string
	Input    string        // the input the tool receives, references substituted ("" for a skipped step)
	Begun    time.Time     // when the run began: At and the Value's times count from it
	At       time.Duration // since the run began
	Attempt  int           // EventRetrying: the call that failed
	Delay    time.Duration // EventRetrying: the wait before the next call
	Err      error         // EventRetrying and EventFailed: the error
	Reason   string        // EventSkipped: why
	Duration time.Duration // EventFinished and EventFailed: how long the step ran
	Value    *Value        // EventFinished, EventFailed, EventSkipped: the evidence (read only)
}

// Errors a run reports.
var (
	// ErrTimeout is wrapped by the error of a step that ran past Options.StepTimeout.
	ErrTimeout = errors.New("step timed out")
	// ErrInvalidStep is wrapped by Run's error when a step repeats a name or
	// references evidence that was not given before it.
	ErrInvalidStep = errors.New("invalid step")
)

// StepError is Run's error when a step fails under FailFast.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Result is what a run produced.
type Result struct {
	// Values holds the evidence of every step given, in the order given.
	Values []*Value
	// Begun is when the run began; the values' Start times count from it.
	Begun time.Time
	// Wall is the time from the start of the run to its end.
	Wall time.Duration
	// CriticalPath is the chain of steps that decided when the run ended: the
	// step that ended last, the dependency of it that ended last, and so on back
	// to a step without dependencies; listed first step first.
	CriticalPath []string
	byName       map[string]*Value
	// answerLimit bounds the answer's substitution: the tighter of
	// MaxInputBytes and what the steps left of MaxExpansion (< 0: none).
	answerLimit int
}

// Get returns the evidence called name, or nil.
func (r *Result) Get(name string) *Value { return r.byName[name] }

// ErrNoCitation is Answer's error when the plan's answer cites no evidence (or
// there is no Answer line): the answer is to be resolved from all the evidence.
var ErrNoCitation = errors.New("the answer cites no evidence")

// ErrBadCitation is wrapped by Answer's error when cited evidence is missing.
var ErrBadCitation = errors.New("the answer cites evidence that is missing")

// Answer resolves the plan's Answer line a (nil when the plan has none) with this
// run's evidence. When cited evidence failed or was skipped the text is still
// returned, with notes in place of that evidence, and the error wraps
// ErrBadCitation. An answer that would pass the run's MaxInputBytes, or what
// its steps left of MaxExpansion, is an error wrapping ErrTooLarge.
func (r *Result) Answer(a *planparser.Answer) (string, error) {
	if a == nil || len(a.Refs) == 0 {
		return "", ErrNoCitation
	}
	text, bad, err := Substitute(a.Text, r.Get, r.answerLimit)
	if err != nil {
		return "", fmt.Errorf("the answer: %w", err)
	}
	if len(bad) > 0 {
		why := make([]string, len(bad))
		for i, name := range bad {
			switch v := r.Get(name); {
			case v == nil:
				why[i] = name + " (not in the plan)"
			case v.Status == Failed:
				why[i] = fmt.Sprintf("%s (failed: %v)", name, v.Err)
			default:
				why[i] = fmt.Sprintf("%s (skipped: %s)", name, v.Reason)
			}
		}
		return text, fmt.Errorf("%w: %s", ErrBadCitation, strings.Join(why, "; "))
	}
	return text, nil
}

// Resolve runs a whole plan; see Run.
func Resolve(ctx context.Context, tb Toolbox, plan *planparser.Plan, opts Options) (*Result, error) {
	steps := make(chan *planparser.Step, len(plan.Steps))
	for _, s := range plan.Steps {
		steps <- s
	}
	close(steps)
	return Run(ctx, tb, steps, opts)
}

// Run resolves the steps received from steps, which the sender closes when the
// plan is complete (a planparser.Stream's steps can be sent as the model writes
// them). Each step starts the moment every step it references has ended and the
// concurrency limits allow, with that evidence substituted into its input. A step
// must come after every step it references.
//
// Run returns when steps is closed and every step has ended, or when the run
// stops: ctx is done (the error is ctx's), a step fails under FailFast (a
// *StepError), or a step is invalid (wrapping ErrInvalidStep). On a stop, running
// steps are cancelled and waiting ones skipped, Run reads no more steps (a sender
// must select on ctx too), and the Result still holds everything that ended.
// Failed steps are not an error otherwise: they are evidence. No goroutine Run
// starts outlives it, provided tools honour their context.
func Run(ctx context.Context, tb Toolbox, steps <-chan *planparser.Step, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	r := &run{
		opts:    opts,
		tb:      tb,
		start:   time.Now(),
		nodes:   map[string]*node{},
		perTool: map[string]int{},
		wake:    make(chan struct{}, 1),
	}
	in, stop := steps, gctx.Done()
	for {
		if stop != nil && gctx.Err() != nil {
			stop = nil
			r.stopping, r.stopReason = true, stopReason(context.Cause(gctx))
			r.skipWaiting()
			r.drain(in)
			in = nil
		}
		r.launch(gctx, g)
		if in == nil && r.running == 0 {
			break
		}
		select {
		case st, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			if err := r.add(st); err != nil {
				cancel(err)
			}
		case <-r.wake:
			r.collect()
		case <-stop: // handled at the top of the loop
		}
	}
	werr := g.Wait()
	res := r.result()
	// What stopped the run comes before the errors of the steps it cancelled.
	switch {
	case ctx.Err() != nil:
		return res, context.Cause(ctx)
	case werr != nil:
		return res, werr
	}
	return res, nil
}

func (o Options) withDefaults() Options {
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxInputBytes == 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	if o.MaxExpansion == 0 {
		o.MaxExpansion = DefaultMaxExpansion
	}
	return o
}

func stopReason(cause error) string {
	var se *StepError
	if errors.As(cause, &se) {
		return fmt.Sprintf("run stopped: %s failed", se.Step)
	}
	return fmt.Sprintf("run stopped: %v", cause)
}

// node is a step in the run's DAG. Only Run's loop touches it, except that a
// running step's goroutine reads step and tool.
type node struct {
	step       *planparser.Step
	tool       tools.Tool // nil when the step failed before running
	waiting    int        // dependencies not yet ended
	dependants []*node
	value      *Value // set by the loop when the step has ended
	running    bool
}

type completion struct {
	n *node
	v *Value
}

// run is the state of one Run. The fields above mu belong to Run's loop.
type run struct {
	opts       Options
	tb         Toolbox
	start      time.Time
	nodes      map[string]*node
	order      []*node // as given
	ready      []*node
	running    int
	perTool    map[string]int
	stopping   bool
	stopReason string
	expanded   int // bytes the substitutions into inputs produced

	mu   sync.Mutex
	done []completion // ended steps the loop has not collected
	wake chan struct{}

	emitMu sync.Mutex
}

func (r *run) since() time.Duration { return time.Since(r.start) }

func (r *run) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	e.Begun = r.start
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.OnEvent(e)
}

// add takes a step from the stream into the DAG.
func (r *run) add(st *planparser.Step) error {
	if _, dup := r.nodes[st.Name]; dup {
		return fmt.Errorf("%w: %s given twice", ErrInvalidStep, st.Name)
	}
	for _, d := range st.Deps {
		if r.nodes[d] == nil {
			return fmt.Errorf("%w: %s references %s, which was not given before it", ErrInvalidStep, st.Name, d)
		}
	}
	n := &node{step: st}
	r.nodes[st.Name] = n
	r.order = append(r.order, n)
	if r.stopping {
		r.skipWithReason(n, r.stopReason)
		return nil
	}
	for _, name := range st.Deps {
		d := r.nodes[name]
		if d.value == nil {
			n.waiting++
			d.dependants = append(d.dependants, n)
		} else if !d.value.Ok() && r.opts.OnFailure != RunDependants {
			r.skip(n, d)
			return nil
		}
	}
	tool, err := r.tb.Get(st.Tool)
	if err != nil {
		v := r.newValue(n, "")
		r.end(v, err)
		n.value = v
		if r.opts.OnFailure == FailFast {
			return &StepError{Step: st.Name, Err: err}
		}
		return nil
	}
	n.tool = tool
	if n.waiting == 0 {
		r.ready = append(r.ready, n)
	}
	return nil
}

// launch starts every ready step the limits allow, in the order they became ready.
func (r *run) launch(ctx context.Context, g *errgroup.Group) {
	if r.stopping {
		return
	}
	kept := r.ready[:0]
	for _, n := range r.ready {
		lim := r.opts.ToolLimits[n.step.Tool]
		if r.running >= r.opts.Concurrency || (lim > 0 && r.perTool[n.step.Tool] >= lim) {
			kept = append(kept, n)
			continue
		}
		r.running++
		r.perTool[n.step.Tool]++
		n.running = true
		req, reqErr := r.request(n)
		// The loop counts a step as running until it collects it, so by the time
		// the count allows another, errgroup's slot is free or about to be.
		g.Go(func() error {
			var v *Value
			if reqErr != nil { // the tool is never called
				v = r.newValue(n, "")
				r.end(v, reqErr)
			} else {
				v = r.call(ctx, n, req)
			}
			r.mu.Lock()
			r.done = append(r.done, completion{n, v})
			r.mu.Unlock()
			select {
			case r.wake <- struct{}{}:
			default: // a wake-up is already pending
			}
			if v.Status == Failed && r.opts.OnFailure == FailFast {
				return &StepError{Step: n.step.Name, Err: v.Err}
			}
			return nil
		})
	}
	clear(r.ready[len(kept):])
	r.ready = kept
}

// request builds n's tool request from the evidence of its dependencies, within
// the bounds of substitution.
func (r *run) request(n *node) (tools.Request, error) {
	get := func(name string) *Value {
		if d := r.nodes[name]; d != nil {
			return d.value
		}
		return nil
	}
	input, _, err := Substitute(n.step.Input, get, limit(r.opts.MaxInputBytes, r.expansionLeft()))
	if err != nil {
		return tools.Request{}, fmt.Errorf("%s's input: %w", n.step.Name, err)
	}
	if len(n.step.Deps) > 0 {
		r.expanded += len(input)
	}
	req := tools.Request{Input: input, Raw: n.step.Input}
	for _, name := range n.step.Deps {
		v := get(name)
		req.Cited = append(req.Cited, tools.Cited{Name: name, Tool: v.Tool, Input: v.Input, Text: v.Content(), Sources: v.Sources})
	}
	return req, nil
}

// expansionLeft is what the run's substitutions may still produce; < 0: no bound.
func (r *run) expansionLeft() int {
	if r.opts.MaxExpansion < 0 {
		return -1
	}
	return max(r.opts.MaxExpansion-r.expanded, 0)
}

// limit is the tighter of two bounds, each < 0 for none, as Substitute's limit.
func limit(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

func (r *run) newValue(n *node, input string) *Value {
	return &Value{Name: n.step.Name, Tool: n.step.Tool, Raw: n.step.Input, Input: input, Deps: n.step.Deps, Start: r.since()}
}

// call runs n's tool, retrying transient failures; it runs on the step's goroutine.
func (r *run) call(ctx context.Context, n *node, req tools.Request) *Value {
	v := r.newValue(n, req.Input)
	r.emit(Event{Kind: EventStarted, Step: v.Name, Tool: v.Tool, Input: v.Input, At: v.Start})
	stepCtx := ctx
	if r.opts.StepTimeout > 0 {
		var cancel context.CancelFunc
		stepCtx, cancel = context.WithTimeout(ctx, r.opts.StepTimeout)
		defer cancel()
	}
	delay := r.opts.Backoff
	var err error
	for {
		if err = stepCtx.Err(); err != nil {
			break
		}
		v.Attempts++
		var out tools.Output
		callCtx := tools.WithCallInfo(stepCtx, tools.CallInfo{Step: v.Name, Tool: v.Tool, Attempt: v.Attempts})
		if out, err = n.tool.Call(callCtx, req); err == nil {
			v.Bytes, v.Text, v.Sources = len(out.Text), out.Text, out.Sources
			if r.opts.MaxBytes > 0 {
				v.Text = Trim(out.Text, r.opts.MaxBytes)
			}
			break
		}
		if stepCtx.Err() != nil || !tools.IsTransient(err) || v.Attempts > r.opts.Retries {
			break
		}
		wait := delay
		if d, ok := tools.RetryAfterOf(err); ok {
			wait = d // the server said when; it knows better than the schedule
		}
		if dl, ok := stepCtx.Deadline(); ok && time.Until(dl) < wait {
			err = fmt.Errorf("%w (not retried: the wait of %s would pass the step's time limit)", err, wait)
			break
		}
		r.emit(Event{Kind: EventRetrying, Step: v.Name, Tool: v.Tool, Input: v.Input, At: r.since(), Attempt: v.Attempts, Delay: wait, Err: err})
		if err = sleep(stepCtx, wait); err != nil {
			break
		}
		delay = min(2*delay, r.opts.MaxBackoff)
	}
	if err != nil && ctx.Err() == nil && errors.Is(stepCtx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, r.opts.StepTimeout, err)
	}
	r.end(v, err)
	return v
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// end settles v (failed when err is not nil) and reports it.
func (r *run) end(v *Value, err error) {
	v.Duration = r.since() - v.Start
	kind := EventFinished
	if err != nil {
		v.Status, v.Err, kind = Failed, err, EventFailed
	}
	r.emit(Event{Kind: kind, Step: v.Name, Tool: v.Tool, Input: v.Input, At: r.since(), Err: err, Duration: v.Duration, Value: v})
}

// collect takes in the steps that ended and releases or skips their dependants.
func (r *run) collect() {
	r.mu.Lock()
	done := r.done
	r.done = nil
	r.mu.Unlock()
	for _, c := range done {
		r.running--
		r.perTool[c.n.step.Tool]--
		c.n.running = false
		c.n.value = c.v
		for _, d := range c.n.dependants {
			switch {
			case d.value != nil: // already ended: skipped, or its tool is unknown
			case !c.v.Ok() && r.opts.OnFailure != RunDependants:
				r.skip(d, c.n)
			default:
				if d.waiting--; d.waiting == 0 && !r.stopping {
					r.ready = append(r.ready, d)
				}
			}
		}
	}
}

// skip marks n and everything depending on it as skipped because cause ended
// without evidence.
func (r *run) skip(n, cause *node) {
	what := "failed"
	if cause.value.Status == Skipped {
		what = "was skipped"
	}
	r.skipWithReason(n, fmt.Sprintf("depends on %s, which %s", cause.step.Name, what))
}

func (r *run) skipWithReason(n *node, reason string) {
	if n.value != nil || n.running {
		return
	}
	v := r.newValue(n, "")
	v.Status, v.Reason = Skipped, reason
	n.value = v
	r.emit(Event{Kind: EventSkipped, Step: v.Name, Tool: v.Tool, At: v.Start, Reason: reason, Value: v})
	for _, d := range n.dependants {
		r.skip(d, n)
	}
}

// skipWaiting skips every step that has not started, when the run stops.
func (r *run) skipWaiting() {
	r.ready = nil
	for _, n := range r.order {
		r.skipWithReason(n, r.stopReason)
	}
}

// drain records the steps already waiting in the channel as skipped, so that a
// stopped Resolve still accounts for every step of its plan. It never blocks.
func (r *run) drain(in <-chan *planparser.Step) {
	for in != nil {
		select {
		case st, ok := <-in:
			if !ok {
				return
			}
			_ = r.add(st) // an invalid step changes nothing now
		default:
			return
		}
	}
}

// result assembles the Result once every step's goroutine has ended.
func (r *run) result() *Result {
	r.collect()
	res := &Result{Begun: r.start, Wall: r.since(), byName: make(map[string]*Value, len(r.order)),
		answerLimit: limit(r.opts.MaxInputBytes, r.expansionLeft())}
	var last *node
	for _, n := range r.order {
		res.Values = append(res.Values, n.value)
		res.byName[n.step.Name] = n.value
		if ran(n) && (last == nil || end(n) > end(last)) {
			last = n
		}
	}
	for n := last; n != nil; {
		res.CriticalPath = append(res.CriticalPath, n.step.Name)
		var next *node
		for _, name := range n.step.Deps {
			if d := r.nodes[name]; ran(d) && (next == nil || end(d) > end(next)) {
				next = d
			}
		}
		n = next
	}
	slices.Reverse(res.CriticalPath)
	return res
}

func ran(n *node) bool          { return n.value.Status != Skipped }
func end(n *node) time.Duration { return n.value.Start + n.value.Duration }
