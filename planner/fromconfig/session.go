package fromconfig

import (
	"context"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/tools"
)

// Session answers questions with the planner Config describes over one
// engine and one set of tools, which every question shares, as they share the
// constrained plans' masks. It is safe for concurrent questions when
// Conversation is nil.
type Session struct {
	Config *configs.Config
	// LLM is the engine, its calls recorded in each question's trace
	// (planner.Recorded), so that several questions may run at once.
	LLM      engine.LLM
	Tools    *tools.Registry
	Sampling engine.Sampling // engine/open.Sampling of Config's sampling
	// Approve asks about a tool marked confirm; nil refuses those (unless
	// planner.allow_confirm).
	Approve func(context.Context, planner.Approval) error
	// Conversation, when set, holds the conversation the questions belong to.
	Conversation *planner.Conversation

	indexes planner.PlanIndexes
}

// Ask answers question with no events (research.Asker).
func (s *Session) Ask(ctx context.Context, question string) (*planner.Trace, error) {
	return s.Run(ctx, question, false, nil)
}

// Run answers question, in the conversation when there is one, or with
// planOnly only writes and checks its plan. on, when not nil, receives the
// run's events.
func (s *Session) Run(ctx context.Context, question string, planOnly bool, on func(planner.Event)) (*planner.Trace, error) {
	p := Planner(s.Config, s.LLM, s.Tools, s.Sampling)
	p.Indexes = &s.indexes
	if p.Approve == nil {
		p.Approve = s.Approve
	}
	switch {
	case planOnly:
		return p.Plan(ctx, question, on)
	case s.Conversation != nil:
		return s.Conversation.Ask(ctx, p, question, on)
	}
	return p.Ask(ctx, question, on)
}
