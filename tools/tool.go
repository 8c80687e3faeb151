// Package tools defines the seam between a plan and the world: the Tool interface
// every step calls, the registry that names them, and (in sub-packages) the built-in
// tools and the custom tools loaded from YAML.
//
// A tool receives its input with earlier evidence already substituted in, plus the
// evidence that input cited, and returns text with the sources it came from. Errors a
// tool knows to be passing (rate limits, timeouts, 5xx) are wrapped with Transient so
// the resolver may retry them.
package tools

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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

// transientError marks an error that may pass if the call is retried.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Transient marks err as worth retrying (rate limit, timeout, server busy).
// A nil err stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

// IsTransient reports whether any error in err's chain was marked Transient.
func IsTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

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
