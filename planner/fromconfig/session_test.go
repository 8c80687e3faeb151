package fromconfig

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// sessionPlan calls Delete, a tool marked confirm, and answers with its output.
const sessionPlan = "Plan: Delete the note.\n:evidence0: = Delete[note 1]\nAnswer: :evidence0:\n"

func TestSession(t *testing.T) {
	errNo := errors.New("no")
	tests := []struct {
		name      string
		allow     bool                                          // planner.allow_confirm
		approve   func(context.Context, planner.Approval) error // Session.Approve
		planOnly  bool
		conv      bool
		answer    string // the trace's answer, "" for none
		approvals int    // Approve's calls over both questions
		events    bool   // Run's on receives events
	}{
		{name: "approved", approve: func(context.Context, planner.Approval) error { return nil }, answer: "Delete(note 1)", approvals: 2, events: true},
		{name: "allow_confirm", allow: true, approve: func(context.Context, planner.Approval) error { return errNo }, answer: "Delete(note 1)", events: true},
		{name: "refused", approve: func(context.Context, planner.Approval) error { return errNo }, approvals: 2, events: true},
		{name: "nobody to ask", events: true},
		{name: "plan only", approve: func(context.Context, planner.Approval) error { return nil }, planOnly: true, events: true},
		// The second question reuses the first one's evidence: no second call.
		{name: "conversation", approve: func(context.Context, planner.Approval) error { return nil }, conv: true, answer: "Delete(note 1)", approvals: 1, events: true},
		{name: "Ask", approve: func(context.Context, planner.Approval) error { return nil }, answer: "Delete(note 1)", approvals: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg configs.Config
			if err := configs.Decode("(defaults)", configs.DefaultYAML, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Planner.AllowConfirm, cfg.Planner.Replans = tt.allow, 0
			eng := &plannertest.Engine{Replies: []plannertest.Reply{{Text: sessionPlan}}}
			reg, err := tools.NewRegistry(tools.WithConfirm(&tooltest.Slow{ToolName: "Delete"}))
			if err != nil {
				t.Fatal(err)
			}
			var approvals atomic.Int32
			s := &Session{Config: &cfg, LLM: planner.Recorded(eng), Tools: reg}
			if tt.approve != nil {
				s.Approve = func(ctx context.Context, a planner.Approval) error {
					approvals.Add(1)
					return tt.approve(ctx, a)
				}
			}
			if tt.conv {
				s.Conversation = &planner.Conversation{}
			}
			var tr *planner.Trace
			events := 0
			for _, q := range []string{"Delete note 1.", "And again?"} {
				if tt.name == "Ask" {
					tr, err = s.Ask(context.Background(), q)
				} else {
					tr, err = s.Run(context.Background(), q, tt.planOnly, func(planner.Event) { events++ })
				}
			}
			if tr == nil {
				t.Fatalf("no trace: %v", err)
			}
			if got := ""; tr.Answer != nil && !tr.Answer.Partial {
				if got = tr.Answer.Text; got != tt.answer {
					t.Errorf("answer %q (err %v), want %q", got, err, tt.answer)
				}
			} else if tt.answer != "" {
				t.Errorf("no answer (err %v), want %q", err, tt.answer)
			}
			if got := int(approvals.Load()); got != tt.approvals {
				t.Errorf("Approve called %d times over two questions, want %d", got, tt.approvals)
			}
			if (events > 0) != tt.events {
				t.Errorf("%d events", events)
			}
			calls := eng.Calls()
			if len(calls) == 0 {
				t.Fatal("no engine calls")
			}
			recalls := strings.Contains(calls[len(calls)-1].Request.Prompt, "Delete note 1.")
			if recalls != tt.conv {
				t.Errorf("the second question's prompt recalls the first: %v, want %v", recalls, tt.conv)
			}
		})
	}
}
