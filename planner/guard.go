package planner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/tools"
)

// Approval is a call of a tool that needs a person's approval (see
// tools.NeedsConfirm), as Planner.Approve sees it.
type Approval struct {
	Tool  string
	Step  string
	Input string // the input the tool would receive
}

// ErrNotApproved is wrapped by the error of a tool call that needs approval and
// did not get it: refused by the person, or in a run where nobody can be asked.
var ErrNotApproved = errors.New("needs approval")

// toolbox is the tools as the resolver of one question sees them: each call
// first looks for the same call's evidence from an earlier plan of the
// question (or of the conversation) and reuses it; otherwise it takes a tool
// call from the budget, asks for approval where the tool needs it, and runs
// under a span.
type toolbox struct {
	s    *session
	plan int // the plan's number in the memo
}

var _ evidence.Toolbox = toolbox{}

func (tb toolbox) Get(name string) (tools.Tool, error) {
	t, err := tb.s.p.Tools.Get(name)
	if err != nil {
		return nil, err
	}
	return guarded{t, tb.s, tb.plan}, nil
}

type guarded struct {
	tools.Tool
	s    *session
	plan int
}

// memoKey identifies a tool call by what it does: the tool and its input.
type memoKey struct{ tool, input string }

// memo holds the evidence of the tool calls that succeeded, for the later
// plans of a question or a conversation: a plan reuses only the evidence of
// the plans before it (two steps of one plan that make the same call both
// run). It is safe for concurrent use.
type memo struct {
	mu    sync.Mutex
	plans int // plans begun
	out   map[memoKey]memoEntry
}

type memoEntry struct {
	plan int // the plan whose step made the call
	out  tools.Output
}

// begin starts a new plan and returns its number.
func (m *memo) begin() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans++
	return m.plans
}

// get returns the evidence of the call k made by a plan before plan.
func (m *memo) get(k memoKey, plan int) (tools.Output, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.out[k]
	if !ok || e.plan >= plan {
		return tools.Output{}, false
	}
	return e.out, true
}

func (m *memo) put(k memoKey, plan int, o tools.Output) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		m.out = map[memoKey]memoEntry{}
	}
	if _, ok := m.out[k]; !ok {
		m.out[k] = memoEntry{plan, o}
	}
}

func (g guarded) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	s, name := g.s, g.Tool.Name()
	ci, _ := tools.CallInfoFrom(ctx)
	key := memoKey{name, req.Input}
	if out, ok := s.memo.get(key, g.plan); ok {
		s.reused(ci.Step)
		return out, nil
	}
	if err := s.spend.toolCall(); err != nil {
		return tools.Output{}, err
	}
	if tools.NeedsConfirm(g.Tool) {
		if err := s.approve(ctx, Approval{Tool: name, Step: ci.Step, Input: req.Input}); err != nil {
			return tools.Output{}, err
		}
	}
	ctx, span := s.tracer.Start(ctx, "execute_tool "+name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", name),
			attribute.String("gen_ai.tool.call.id", ci.Step),
			attribute.String("agent.step", ci.Step),
			attribute.Int("agent.attempt", ci.Attempt),
			attribute.Int("agent.tool.input_bytes", len(req.Input)),
		))
	defer span.End()
	if s.p.TracePayloads {
		span.SetAttributes(attribute.String("gen_ai.tool.call.arguments", req.Input))
	}
	out, err := g.Tool.Call(ctx, req)
	span.SetAttributes(attribute.Int("agent.tool.output_bytes", len(out.Text)), attribute.Int("agent.tool.sources", len(out.Sources)))
	if err != nil {
		status := "failed"
		if errors.Is(err, tools.ErrBlocked) {
			status = "blocked"
		}
		span.SetAttributes(attribute.String("agent.tool.status", status))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return out, err
	}
	span.SetAttributes(attribute.String("agent.tool.status", "ok"))
	if s.p.TracePayloads {
		span.SetAttributes(attribute.String("gen_ai.tool.call.result", out.Text))
	}
	s.memo.put(key, g.plan, out)
	return out, nil
}

// approve asks Planner.Approve about a, once per step and input: a retry of an
// approved call is approved.
func (s *session) approve(ctx context.Context, a Approval) error {
	key := a.Step + "\x00" + a.Tool + "\x00" + a.Input
	s.approvalMu.Lock()
	defer s.approvalMu.Unlock() // one question at a time at the terminal
	if s.approved[key] {
		return nil
	}
	if s.p.Approve == nil {
		return fmt.Errorf("%s %w before it runs, and nobody can be asked here (an unattended run; --yes allows it)", a.Tool, ErrNotApproved)
	}
	if err := s.p.Approve(ctx, a); err != nil {
		return fmt.Errorf("%s %w: %w", a.Tool, ErrNotApproved, err)
	}
	s.approved[key] = true
	return nil
}

// reused marks the step's evidence as taken from an earlier plan.
func (s *session) reused(step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.byName[step]; t != nil {
		t.Reused = true
	}
}
