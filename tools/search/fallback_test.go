package search

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// fakeBackend answers one result, or fails with err; it counts its calls.
type fakeBackend struct {
	name  string
	err   error
	calls atomic.Int64
}

func (b *fakeBackend) Engine() string { return b.name }
func (b *fakeBackend) Search(_ context.Context, q string) ([]Result, error) {
	b.calls.Add(1)
	if b.err != nil {
		return nil, b.err
	}
	return []Result{{Title: b.name, URL: "https://" + strings.ToLower(b.name) + ".example/" + q}}, nil
}

func TestFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ddg := &fakeBackend{name: "DuckDuckGo", err: ErrBlocked}
		sx := &fakeBackend{name: "SearXNG"}
		f := NewFallback(time.Minute, ddg, sx)
		tool := &Tool{Backend: f}
		ctx := context.Background()

		// The block falls over to SearXNG, and pauses DuckDuckGo for every
		// later query, whichever question makes it.
		for i, q := range []string{"a", "b", "c"} {
			out, err := tool.Call(ctx, tools.Request{Input: q})
			if err != nil {
				t.Fatalf("query %s: %v", q, err)
			}
			if want := "https://searxng.example/" + q; len(out.Sources) != 1 || out.Sources[0] != want {
				t.Fatalf("query %s: sources %v, want %s", q, out.Sources, want)
			}
			if got := ddg.calls.Load(); got != 1 {
				t.Fatalf("after %d queries DuckDuckGo was asked %d times, want once (paused)", i+1, got)
			}
		}
		// After the pause DuckDuckGo is asked again: it has answered by then.
		time.Sleep(time.Minute + time.Second)
		ddg.err = nil
		out, err := tool.Call(ctx, tools.Request{Input: "d"})
		if err != nil || out.Sources[0] != "https://duckduckgo.example/d" {
			t.Fatalf("after the pause: %v, %v; want DuckDuckGo's answer", out.Sources, err)
		}

		// Everything blocked: the error is a block, naming each backend.
		sx.err, ddg.err = ErrBlocked, ErrBlocked
		_, err = tool.Call(ctx, tools.Request{Input: "e"})
		if !errors.Is(err, ErrBlocked) || !errors.Is(err, tools.ErrBlocked) {
			t.Fatalf("all blocked: %v, want ErrBlocked", err)
		}
		for _, name := range []string{"DuckDuckGo", "SearXNG", "blocked"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("all blocked: %q does not name %s", err, name)
			}
		}
		// Both paused: no request reaches either.
		before := ddg.calls.Load() + sx.calls.Load()
		if _, err = tool.Call(ctx, tools.Request{Input: "f"}); !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "paused") {
			t.Fatalf("both paused: %v", err)
		}
		if after := ddg.calls.Load() + sx.calls.Load(); after != before {
			t.Errorf("a paused backend was asked (%d calls, want %d)", after, before)
		}
	})
}

func TestFallbackOtherErrorsStay(t *testing.T) {
	ddg := &fakeBackend{name: "DuckDuckGo", err: ErrNoResults}
	sx := &fakeBackend{name: "SearXNG"}
	_, err := NewFallback(0, ddg, sx).Search(context.Background(), "q")
	if !errors.Is(err, ErrNoResults) || sx.calls.Load() != 0 {
		t.Fatalf("no results: %v, SearXNG asked %d times; want ErrNoResults from DuckDuckGo alone", err, sx.calls.Load())
	}
	if _, err := NewFallback(0).Search(context.Background(), "q"); err == nil {
		t.Fatal("no backends: no error")
	}
}
