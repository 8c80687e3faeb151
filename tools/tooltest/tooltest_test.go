package tooltest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

func TestSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Slow{ToolName: "S", Delay: time.Second}
		start := time.Now()
		out, err := s.Call(context.Background(), tools.Request{Input: "x"})
		if err != nil || out.Text != "S(x)" || time.Since(start) != time.Second {
			t.Errorf("got %q, %v after %v", out.Text, err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if _, err := s.Call(ctx, tools.Request{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
	})
}

func TestFailingAndFlaky(t *testing.T) {
	custom := errors.New("boom")
	tests := []struct {
		name string
		tool tools.Tool
		want error
	}{
		{"default error", &Failing{ToolName: "F"}, ErrFake},
		{"custom error", &Failing{ToolName: "F", Err: custom}, custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.tool.Call(context.Background(), tools.Request{}); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	f := &Flaky{ToolName: "R", Failures: 2}
	for i := range 3 {
		out, err := f.Call(context.Background(), tools.Request{Input: "q"})
		if transient := tools.IsTransient(err); transient != (i < 2) {
			t.Errorf("call %d: err = %v, transient = %v", i, err, transient)
		}
		if i == 2 && out.Text != "R(q)" {
			t.Errorf("third call answered %q", out.Text)
		}
	}
	if f.Calls() != 3 {
		t.Errorf("Calls = %d, want 3", f.Calls())
	}
}

func TestRecorderOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Recorder{Tool: &Slow{ToolName: "S", Delay: time.Second}}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = r.Call(context.Background(), tools.Request{Input: "x"}) })
		}
		wg.Wait()
		if got := r.MaxInFlight(); got != 3 {
			t.Errorf("MaxInFlight = %d, want 3", got)
		}
		if calls := r.Calls(); len(calls) != 3 || calls[0].End.Sub(calls[0].Start) != time.Second {
			t.Errorf("calls = %+v", calls)
		}
	})
}
