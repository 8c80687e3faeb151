package planner

import (
	"context"
	"go.opentelemetry.io/otel/trace/noop"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
)

// plainLLM hides every optional capability of the engine it wraps.
type plainLLM struct{ engine.LLM }

// TestRecorded checks calls made side by side through one recorded engine land
// on the recorder each context carries, labelled by the step in the call's
// context, and on none without one.
func TestRecorded(t *testing.T) {
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
			llm := Recorded(tt.llm)
			if _, ok := llm.(engine.TokenCounter); ok != tt.wantCounter {
				t.Errorf("TokenCounter visible = %v, want %v", ok, tt.wantCounter)
			}
			before := len(fake.Calls())
			var recs [3]*recorder
			var wg sync.WaitGroup
			for i := range recs {
				recs[i] = newRecorder(time.Now(), &spend{}, noop.NewTracerProvider().Tracer(""), "", false)
				for range i + 1 {
					wg.Go(func() {
						ctx := withRecorder(withPurpose(context.Background(), "plan"), recs[i])
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
					if c.Purpose != "plan" || c.Tokens != 3 || c.Step != "" {
						t.Errorf("recorder %d: call %+v", i, c)
					}
				}
			}
			if n := len(fake.Calls()) - before; n != 7 {
				t.Errorf("the engine served %d calls, want 7", n)
			}

			rec := newRecorder(time.Now(), &spend{}, noop.NewTracerProvider().Tracer(""), "", false)
			ctx := tools.WithCallInfo(withRecorder(context.Background(), rec), tools.CallInfo{Step: ":evidence2:", Tool: "KnowledgeModel", Attempt: 2})
			if _, err := llm.Generate(ctx, engine.Request{Prompt: "a b", MaxTokens: 1}, func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
			want := EngineCall{Purpose: "tool KnowledgeModel", Step: ":evidence2:", Attempt: 2, PromptTokens: 2, Tokens: 1, Stop: "length"}
			if c := rec.Calls(); len(c) != 1 || c[0].Purpose != want.Purpose || c[0].Step != want.Step ||
				c[0].Attempt != want.Attempt || c[0].PromptTokens != want.PromptTokens || c[0].Tokens != want.Tokens || c[0].Stop != want.Stop {
				t.Errorf("tool call = %+v, want %+v", c, want)
			}
		})
	}
}

// TestRecordStartOrder has the first call end last: the record keeps the
// order the calls started in, whichever ends first.
func TestRecordStartOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := make(chan struct{})
		llm := Recorded(funcLLM(func(ctx context.Context, req engine.Request) (engine.Result, error) {
			if req.Prompt == "first" {
				<-slow
			}
			return engine.Result{Text: req.Prompt}, nil
		}))
		rec := newRecorder(time.Now(), &spend{}, noop.NewTracerProvider().Tracer(""), "", false)
		ctx := withRecorder(context.Background(), rec)
		first := make(chan error)
		go func() {
			_, err := llm.Generate(withPurpose(ctx, "plan"), engine.Request{Prompt: "first"}, nil)
			first <- err
		}()
		synctest.Wait() // the first call has its slot and waits
		if _, err := llm.Generate(tools.WithCallInfo(ctx, tools.CallInfo{Step: "#E1", Tool: "T", Attempt: 1}), engine.Request{Prompt: "second"}, nil); err != nil {
			t.Fatal(err)
		}
		if c := rec.Calls(); len(c) != 1 || c[0].Step != "#E1" {
			t.Errorf("before the first call ended: %+v", c)
		}
		close(slow)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		c := rec.Calls()
		if len(c) != 2 || c[0].Purpose != "plan" || c[1].Step != "#E1" {
			t.Errorf("calls %+v, want the plan first", c)
		}
	})
}

type funcLLM func(ctx context.Context, req engine.Request) (engine.Result, error)

func (f funcLLM) Generate(ctx context.Context, req engine.Request, _ func(string) error) (engine.Result, error) {
	return f(ctx, req)
}
