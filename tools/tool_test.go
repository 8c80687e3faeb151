package tools_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

func TestRegistry(t *testing.T) {
	a := &tooltest.Slow{ToolName: "Alpha"}
	b := &tooltest.Failing{ToolName: "Beta"}
	r, err := tools.NewRegistry(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"Alpha", "Beta"}) {
		t.Errorf("Names = %v", got)
	}
	if all := r.All(); len(all) != 2 || all[0] != tools.Tool(a) || all[1] != tools.Tool(b) {
		t.Errorf("All = %v", all)
	}
	if got, err := r.Get("Beta"); err != nil || got != tools.Tool(b) {
		t.Errorf("Get(Beta) = %v, %v", got, err)
	}
	if _, err := r.Get("Gamma"); !errors.Is(err, tools.ErrUnknownTool) {
		t.Errorf("Get(Gamma) err = %v, want ErrUnknownTool", err)
	}
	if !r.Has("Alpha") || r.Has("alpha") {
		t.Error("Has is wrong (names are case-sensitive)")
	}
}

func TestRegistryRejects(t *testing.T) {
	tests := []struct {
		name  string
		tools []tools.Tool
	}{
		{"duplicate", []tools.Tool{&tooltest.Slow{ToolName: "A"}, &tooltest.Failing{ToolName: "A"}}},
		{"empty name", []tools.Tool{&tooltest.Slow{}}},
		{"space", []tools.Tool{&tooltest.Slow{ToolName: "Web Search"}}},
		{"bracket", []tools.Tool{&tooltest.Slow{ToolName: "A[b]"}}},
		{"newline", []tools.Tool{&tooltest.Slow{ToolName: "A\nB"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tools.NewRegistry(tt.tools...); err == nil {
				t.Error("NewRegistry accepted it")
			}
		})
	}
}

func TestRegistryConcurrent(t *testing.T) {
	var r tools.Registry // the zero value is usable
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := r.Add(&tooltest.Slow{ToolName: fmt.Sprintf("T%d", i)}); err != nil {
				t.Error(err)
			}
			_ = r.Names()
		})
	}
	wg.Wait()
	if n := len(r.Names()); n != 20 {
		t.Errorf("%d tools, want 20", n)
	}
}

func TestTransient(t *testing.T) {
	base := errors.New("rate limited")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", tools.Transient(base), true},
		{"wrapped mark", fmt.Errorf("search: %w", tools.Transient(base)), true},
		{"says so", fmt.Errorf("llm: %w", temporary(true)), true},
		{"says not", fmt.Errorf("llm: %w", temporary(false)), false},
		{"after", tools.TransientAfter(base, time.Second), true},
		{"reset", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "read", Net: "tcp",
			Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}}, true},
		{"hub 503", fmt.Errorf("pull: %w", &hub.Error{Status: 503}), true},
		{"hub 429", &hub.Error{Status: 429}, true},
		{"hub 404", &hub.Error{Status: 404}, false},
		{"openai 429", &openai.HTTPError{StatusCode: 429}, true},
		{"openai 504", fmt.Errorf("llm: %w", &openai.HTTPError{StatusCode: 504}), true},
		{"openai 400", &openai.HTTPError{StatusCode: 400}, false},
		{"refused", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tools.IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient = %v, want %v", got, tt.want)
			}
		})
	}
	if tools.Transient(nil) != nil {
		t.Error("Transient(nil) is not nil")
	}
	if err := tools.Transient(base); !errors.Is(err, base) || err.Error() != base.Error() {
		t.Errorf("Transient hides the cause: %v", err)
	}
}

// temporary is an error that says whether it is temporary, as the OpenAI
// client's and the hub's do.
type temporary bool

func (t temporary) Error() string   { return "busy" }
func (t temporary) Temporary() bool { return bool(t) }

// retryAfter is an error that carries a server's Retry-After.
type retryAfter time.Duration

func (r retryAfter) Error() string                     { return "rate limited" }
func (r retryAfter) Temporary() bool                   { return true }
func (r retryAfter) RetryAfter() (time.Duration, bool) { return time.Duration(r), true }

func TestRetryAfterOf(t *testing.T) {
	base := errors.New("busy")
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain", base, 0, false},
		{"transient without", tools.Transient(base), 0, false},
		{"transient after", fmt.Errorf("x: %w", tools.TransientAfter(base, 3*time.Second)), 3 * time.Second, true},
		{"negative after", tools.TransientAfter(base, -time.Second), 0, true},
		{"carried", fmt.Errorf("KnowledgeModel: %w", retryAfter(7*time.Second)), 7 * time.Second, true},
		{"transient over carried", tools.Transient(retryAfter(5 * time.Second)), 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tools.RetryAfterOf(tt.err)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfterOf = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFunc(t *testing.T) {
	f := tools.Func{ToolName: "Upper", Desc: "d", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: req.Input + "!"}, nil
	}}
	out, err := f.Call(context.Background(), tools.Request{Input: "hi"})
	if err != nil || out.Text != "hi!" || f.Name() != "Upper" || f.Description() != "d" {
		t.Errorf("got %q, %v", out.Text, err)
	}
}

func TestCitedSources(t *testing.T) {
	req := tools.Request{Cited: []tools.Cited{
		{Name: ":evidence0:", Sources: []string{"https://a.example/", "https://b.example/"}},
		{Name: ":evidence1:"},
		{Name: ":evidence2:", Sources: []string{"https://b.example/", "https://c.example/", "https://a.example/"}},
	}}
	got := req.CitedSources()
	want := []string{"https://a.example/", "https://b.example/", "https://c.example/"}
	if !slices.Equal(got, want) {
		t.Fatalf("CitedSources() = %v, want %v", got, want)
	}
	if s := (tools.Request{}).CitedSources(); len(s) != 0 {
		t.Fatalf("no citations gave sources %v", s)
	}
}
