package planner

import (
	"context"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// TestRouted checks calls made side by side through one routed engine land on the
// recorder each context carries, and on none without one.
func TestRouted(t *testing.T) {
	fake := &plannertest.Engine{Replies: []plannertest.Reply{{Text: "one two three"}}}
	tests := []struct {
		name        string
		llm         engine.LLM
		wantCounter bool
	}{
		{"counting engine", fake, true},
		{"plain engine", plainLLM{fake}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			llm := Routed(tt.llm)
			if _, ok := llm.(engine.TokenCounter); ok != tt.wantCounter {
				t.Errorf("TokenCounter visible = %v, want %v", ok, tt.wantCounter)
			}
			before := len(fake.Calls())
			var recs [3]*Recorder
			var wg sync.WaitGroup
			for i := range recs {
				_, recs[i] = Record(tt.llm)
				for range i + 1 {
					wg.Go(func() {
						ctx := WithRecorder(WithPurpose(context.Background(), "plan", ""), recs[i])
						if _, err := llm.Generate(ctx, engine.Request{Prompt: "a"}, func(string) error { return nil }); err != nil {
							t.Error(err)
						}
					})
				}
			}
			if _, err := llm.Generate(context.Background(), engine.Request{Prompt: "a"}, func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			for i, r := range recs {
				calls := r.Calls()
				if len(calls) != i+1 {
					t.Errorf("recorder %d has %d calls, want %d", i, len(calls), i+1)
				}
				for _, c := range calls {
					if c.Purpose != "plan" || c.Tokens != 3 {
						t.Errorf("recorder %d: call %+v", i, c)
					}
				}
			}
			if n := len(fake.Calls()) - before; n != 7 {
				t.Errorf("the engine served %d calls, want 7", n)
			}
		})
	}
}
