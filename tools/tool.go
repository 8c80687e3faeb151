// Package tools defines the seam between a plan and the world: the Tool interface
// every step calls, the registry that names them, and (in sub-packages) the built-in
// tools and the custom tools loaded from YAML.
//
// A tool receives its input with earlier evidence already substituted in, plus the
// evidence that input cited, and returns text with the sources it came from. Errors a
// tool knows to be passing (rate limits, timeouts, 5xx) say so (see Temporary;
// Transient marks any error), and the resolver retries them, waiting as long as
// the error asks (see RetryAfter).
package tools

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Tool is one capability a plan can call as Name[input].
type Tool interface {
	// Name is the identifier the plan uses, such as "DuckDuckGo".
	Name() string
	// Description is the one-line text the planner shows the model.
	Description() string
	// Call runs the tool. It must honour ctx and bound its own output.
	Call(ctx context.Context, req Request) (Output, error)
}

// Request is one call of a tool.
type Request struct {
	// Input is the step's input with every evidence reference replaced by its text.
	Input string
	// Raw is the input as the plan wrote it, references intact.
	Raw string
	// Cited is the evidence the input references, in order of first mention.
	Cited []Cited
}

// CitedSources returns the distinct sources of the cited evidence, in first-seen
// order: the provenance of a tool that works over its inputs.
func (r Request) CitedSources() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Cited {
		for _, s := range c.Sources {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Cited is a piece of earlier evidence a step's input refers to.
type Cited struct {
	Name    string // as written in the plan, e.g. ":evidence0:" or "#E1"
	Tool    string // the tool that produced it
	Input   string // the resolved input of that step
	Text    string
	Sources []string
}

// CallInfo identifies a tool call: the plan step that makes it. The resolver
// puts it in each call's context (WithCallInfo), so whatever the tool calls in
// turn, an engine say, can tell which step it works for without matching inputs.
type CallInfo struct {
	Step    string // the step's name as written, e.g. ":evidence1:"
	Tool    string // the tool called
	Attempt int    // 1 for the first call of the step, 2 for its first retry...
}

type callInfoKey struct{}

// WithCallInfo returns a context that carries c.
func WithCallInfo(ctx context.Context, c CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, c)
}

// CallInfoFrom returns the CallInfo ctx carries, if any.
func CallInfoFrom(ctx context.Context) (CallInfo, bool) {
	c, ok := ctx.Value(callInfoKey{}).(CallInfo)
	return c, ok
}

// Output is what a tool returns.
type Output struct {
	Text    string
	Sources []string // URLs (or other locators) the text came from
}

type idempotencyKey struct{}

// WithIdempotencyKey gives the tool calls made under ctx an idempotency key, for
// a tool with side effects: http tools send it as the Idempotency-Key header, so
// that a receiver that honours it does a repeated call once.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// IdempotencyKey is the key WithIdempotencyKey gave ctx, or "".
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

// Temporary is how an error says that retrying the call may succeed: rate
// limits, busy or restarting servers, timeouts. It is the one notion of
// "transient" the resolver retries on, whoever made the error: the tools' own
// (through Transient), the OpenAI client's HTTP errors, the hub's.
type Temporary interface {
	Temporary() bool
}

// RetryAfter is implemented by errors that know how long to wait before the next
// try, such as an HTTP 429 or 503 answer with a Retry-After header.
type RetryAfter interface {
	RetryAfter() (time.Duration, bool)
}

// transientError marks an error that may pass if the call is retried.
type transientError struct {
	err      error
	after    time.Duration // the wait the source asked for, when hasAfter
	hasAfter bool
}

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() error   { return e.err }
func (e transientError) Temporary() bool { return true }
func (e transientError) RetryAfter() (time.Duration, bool) {
	if e.hasAfter {
		return e.after, true
	}
	return RetryAfterOf(e.err)
}

var (
	_ Temporary  = transientError{}
	_ RetryAfter = transientError{}
)

// Transient marks err as worth retrying (rate limit, timeout, server busy).
// A nil err stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err: err}
}

// TransientAfter marks err as worth retrying after d (a server's Retry-After;
// 0 is at once). A nil err stays nil.
func TransientAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return transientError{err: err, after: max(d, 0), hasAfter: true}
}

// IsTransient reports whether err says it may pass when retried: the first error
// in its chain (errors.As) that has a Temporary method answers. A connection
// reset or abort by the peer anywhere in the chain counts too, since the
// standard library's network errors do not call those temporary.
func IsTransient(err error) bool {
	var t Temporary
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}

// RetryAfterOf returns the wait the first error in err's chain that knows one
// asks for (see RetryAfter).
func RetryAfterOf(err error) (time.Duration, bool) {
	var ra RetryAfter
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0, false
}

// ErrBlocked is wrapped by the error of a tool whose service refused the call
// as automated (a search engine's CAPTCHA page): not a failure of the query, and
// not worth retrying soon. Reports name it "blocked".
var ErrBlocked = errors.New("blocked")

// Confirmer is implemented by tools that must be approved by a person before
// each call (confirm: true in the tools YAML); the planner asks, or refuses the
// call in an unattended run.
type Confirmer interface {
	NeedsConfirm() bool
}

// NeedsConfirm reports whether t must be approved before each call.
func NeedsConfirm(t Tool) bool {
	c, ok := t.(Confirmer)
	return ok && c.NeedsConfirm()
}

// WithConfirm returns t marked as needing approval before each call.
func WithConfirm(t Tool) Tool { return confirmed{t} }

type confirmed struct{ Tool }

var _ Confirmer = confirmed{}

func (confirmed) NeedsConfirm() bool { return true }

// ErrUnknownTool is returned by Registry.Get for a name nobody registered.
var ErrUnknownTool = errors.New("unknown tool")

// Registry holds tools by name. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]Tool
}

// NewRegistry returns a registry holding ts. Duplicate names are an error.
func NewRegistry(ts ...Tool) (*Registry, error) {
	r := &Registry{tools: map[string]Tool{}}
	for _, t := range ts {
		if err := r.Add(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers t; a second tool of the same name is an error.
func (r *Registry) Add(t Tool) error {
	name := t.Name()
	if name == "" || strings.ContainsAny(name, "[] \t\r\n") {
		return fmt.Errorf("tool name %q: must be non-empty without spaces or brackets", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tools == nil {
		r.tools = map[string]Tool{}
	}
	if _, dup := r.tools[name]; dup {
		return fmt.Errorf("tool %q registered twice", name)
	}
	r.tools[name] = t
	return nil
}

// Get returns the tool called name, or an error wrapping ErrUnknownTool.
func (r *Registry) Get(name string) (Tool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTool, name)
	}
	return t, nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.tools))
	for n := range r.tools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns the registered tools sorted by name.
func (r *Registry) All() []Tool {
	names := r.Names()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Tool, 0, len(names))
	for _, n := range names {
		out = append(out, r.tools[n])
	}
	return out
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.tools[name]
	return ok
}

// Func adapts a function into a Tool; handy for tests and small built-ins.
type Func struct {
	ToolName string
	Desc     string
	Fn       func(ctx context.Context, req Request) (Output, error)
}

var _ Tool = Func{}

func (f Func) Name() string        { return f.ToolName }
func (f Func) Description() string { return f.Desc }
func (f Func) Call(ctx context.Context, req Request) (Output, error) {
	return f.Fn(ctx, req)
}
