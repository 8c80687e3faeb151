package planner

import (
	"context"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// plainLLM hides every optional capability of the engine it wraps.
type plainLLM struct{ engine.LLM }

func TestRecord(t *testing.T) {
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
			llm, rec := Record(tt.llm)
			if _, ok := llm.(engine.TokenCounter); ok != tt.wantCounter {
				t.Errorf("TokenCounter visible = %v, want %v", ok, tt.wantCounter)
			}
			ctx := WithPurpose(context.Background(), "tool KnowledgeModel", "What? :evidence0:")
			if _, err := llm.Generate(ctx, engine.Request{Prompt: "a b"}, func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := llm.Generate(context.Background(), engine.Request{Prompt: "a", MaxTokens: 1}, func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
			calls := rec.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d calls recorded, want 2", len(calls))
			}
			c := calls[0]
			if c.Purpose != "tool KnowledgeModel" || c.Input != "What? :evidence0:" || c.PromptTokens != 2 || c.Tokens != 3 || c.Stop != "eos" {
				t.Errorf("first call = %+v", c)
			}
			if c := calls[1]; c.Purpose != "" || c.Tokens != 1 || c.Stop != "length" {
				t.Errorf("second call = %+v", c)
			}
		})
	}
}
