package fromconfig

import (
	"context"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner"
)

func TestPlanner(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*configs.Config)
		check func(*testing.T, *planner.Planner)
	}{
		{"defaults", func(*configs.Config) {}, func(t *testing.T, p *planner.Planner) {
			if p.Approve != nil {
				t.Error("Approve set without allow_confirm")
			}
			if p.Sampling.Seed != 3 {
				t.Errorf("Sampling %+v, want the given", p.Sampling)
			}
			if p.Prompts != planner.DefaultPrompts() {
				t.Error("prompts differ from the defaults")
			}
		}},
		{"prompts", func(c *configs.Config) { c.Planner.Prompts.System, c.Planner.Prompts.Plan = "sys", "plan" },
			func(t *testing.T, p *planner.Planner) {
				if p.Prompts.Chat.System != "sys" || p.Prompts.Plan != "plan" {
					t.Errorf("prompts %+v", p.Prompts)
				}
				if p.Prompts.Chat.User != planner.DefaultPrompts().Chat.User {
					t.Error("user prompt changed though not configured")
				}
			}},
		{"allow confirm", func(c *configs.Config) { c.Planner.AllowConfirm = true }, func(t *testing.T, p *planner.Planner) {
			if p.Approve == nil || p.Approve(context.Background(), planner.Approval{}) != nil {
				t.Error("allow_confirm does not approve")
			}
		}},
		{"server model", func(c *configs.Config) {
			c.Engine.Model, c.Engine.LLMURL, c.Engine.LLMModel = "dir", "http://x", "served"
		}, func(t *testing.T, p *planner.Planner) {
			if p.Model != "served" {
				t.Errorf("Model %q, want the server's", p.Model)
			}
		}},
		{"limits", func(c *configs.Config) {
			c.Planner.Repair, c.Planner.Constrain, c.Planner.MaxSteps, c.Planner.Budget.Tokens = false, false, 7, 99
			c.Planner.Concurrency, c.Planner.Retries = 3, 5
		}, func(t *testing.T, p *planner.Planner) {
			if p.Resolve.Concurrency != 3 || p.Resolve.Retries != 5 {
				t.Errorf("Resolve %+v", p.Resolve)
			}
			if !p.NoRepair || !p.NoConstrain || p.MaxSteps != 7 || p.Budget.Tokens != 99 {
				t.Errorf("got NoRepair %v NoConstrain %v MaxSteps %d Budget %+v", p.NoRepair, p.NoConstrain, p.MaxSteps, p.Budget)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg configs.Config
			if err := configs.Decode("(defaults)", configs.DefaultYAML, &cfg); err != nil {
				t.Fatal(err)
			}
			tt.edit(&cfg)
			tt.check(t, Planner(&cfg, nil, nil, engine.Sampling{Seed: 3}))
		})
	}
}
