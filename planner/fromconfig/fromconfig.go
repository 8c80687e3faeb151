// Package fromconfig builds the planner a configuration describes: its prompts,
// limits, budget, sampling and the resolver's options; a Session answers
// question after question with it over one engine and one set of tools. It is
// the one place that reads configs for the planner (its engine sampling
// aside), which itself knows nothing of them.
package fromconfig

import (
	"context"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/tools"
)

// Planner is the planner cfg describes, over llm and the tools of reg, sampling
// as given (engine/open.Sampling of cfg's sampling: this package stays above
// the engine's backends, which engine/open imports). With
// planner.allow_confirm it approves every tool marked confirm; otherwise its
// Approve is nil, for the caller to set.
func Planner(cfg *configs.Config, llm engine.LLM, reg *tools.Registry, sampling engine.Sampling) *planner.Planner {
	pc := cfg.Planner
	prompts := planner.DefaultPrompts()
	for _, o := range []struct {
		to *string
		v  string
	}{
		{&prompts.Chat.System, pc.Prompts.System}, {&prompts.Chat.User, pc.Prompts.User},
		{&prompts.Chat.Assistant, pc.Prompts.Assistant}, {&prompts.Plan, pc.Prompts.Plan},
	} {
		if o.v != "" {
			*o.to = o.v
		}
	}
	var approve func(context.Context, planner.Approval) error
	if pc.AllowConfirm {
		approve = func(context.Context, planner.Approval) error { return nil }
	}
	model := cfg.Engine.Model
	if cfg.Engine.LLMURL != "" {
		model = cfg.Engine.LLMModel
	}
	return &planner.Planner{
		LLM:         llm,
		Tools:       reg,
		Prompts:     prompts,
		NoRepair:    !pc.Repair,
		NoConstrain: !pc.Constrain,
		Replans:     pc.Replans,
		Budget: planner.Budget{Tokens: pc.Budget.Tokens, EngineCalls: pc.Budget.EngineCalls,
			ToolCalls: pc.Budget.ToolCalls, Time: pc.Budget.Time},
		Approve:       approve,
		TracePayloads: pc.TracePayloads,
		Model:         model,
		Sampling:      sampling,
		MaxPlanTokens: pc.MaxPlanTokens,
		MaxSteps:      pc.MaxSteps,
		Stop:          pc.Stop,
		Resolve:       Resolve(pc),
	}
}

// Resolve is the resolver's options the planner section pc sets.
func Resolve(pc configs.Planner) evidence.Options {
	return evidence.Options{Concurrency: pc.Concurrency, StepTimeout: pc.StepTimeout,
		Retries: pc.Retries, MaxInputBytes: pc.MaxInputBytes, MaxExpansion: pc.MaxExpansion}
}
