package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// TestBudgets: each bound stops the question where it is reached, records
// why, and the answer comes from the evidence gathered when there is some.
func TestBudgets(t *testing.T) {
	plan := " :evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n:evidence2: = KnowledgeModel[Who, given :evidence0: and :evidence1:?]\nAnswer: :evidence2:\n"
	tests := []struct {
		name    string
		budget  Budget
		stop    string
		partial bool // else no answer, an error wrapping ErrBudget
		tools   int  // tool calls made
	}{
		{"none", Budget{}, StopAnswered, false, 3},
		// The answer over the evidence is no step: it takes no tool call.
		{"tool calls", Budget{ToolCalls: 2}, StopBudgetToolCalls, true, 3},
		// The plan is the one engine call: KnowledgeModel's step and the
		// answer over the evidence are both refused theirs.
		{"engine calls", Budget{EngineCalls: 1}, StopBudgetEngineCalls, false, 4},
		// The plan is cut at its fifth token: the step written by then runs,
		// and the answer over it finds the budget spent.
		{"tokens", Budget{Tokens: 5}, StopBudgetTokens, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, rec := scripted(t, []plannertest.Reply{{Text: plan}})
			p.Budget = tt.budget
			// KnowledgeModel, as the real one, generates with the engine.
			km := &tooltest.Recorder{Tool: tools.Func{ToolName: "KnowledgeModel", Desc: "answers", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
				res, err := p.LLM.Generate(ctx, engineReq(), func(string) error { return nil })
				return tools.Output{Text: "KM: " + res.Text + " over " + strings.Join(cited(req), " ")}, err
			}}}
			p.Tools = replace(t, p.Tools, km)
			rec["KnowledgeModel"] = km
			tr, err := p.Ask(context.Background(), "Who won?", nil)
			if tr.Stop != tt.stop {
				t.Errorf("stop %q, want %q (err %v)", tr.Stop, tt.stop, err)
			}
			switch {
			case tt.stop == StopAnswered:
				if err != nil || tr.Partial {
					t.Fatalf("err %v, partial %v", err, tr.Partial)
				}
			case tt.partial:
				if err != nil || !tr.Partial || !strings.Contains(strings.Join(tr.Failures, "\n"), "over budget: tool calls (at most 2)") {
					t.Fatalf("err %v, partial %v, failures %q", err, tr.Partial, tr.Failures)
				}
			default:
				if !errors.Is(err, ErrBudget) || tr.Answer != nil {
					t.Fatalf("err %v, answer %+v; want ErrBudget", err, tr.Answer)
				}
			}
			n := 0
			for _, r := range rec {
				n += len(r.Calls())
			}
			if n != tt.tools {
				t.Errorf("%d tool calls, want %d", n, tt.tools)
			}
			if b := tt.budget.EngineCalls; b > 0 && tr.Usage.EngineCalls > b {
				t.Errorf("%d engine calls past the budget of %d", tr.Usage.EngineCalls, b)
			}
			if b := tt.budget.ToolCalls; b > 0 && tr.Usage.ToolCalls > b {
				t.Errorf("%d tool calls past the budget of %d", tr.Usage.ToolCalls, b)
			}
		})
	}
}

// TestBudgetTime: when the time is up the running steps stop and the answer
// is made from what arrived.
func TestBudgetTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := " :evidence0: = DuckDuckGo[a]\n:evidence1: = Slow[b]\n:evidence2: = KnowledgeModel[Who, given :evidence0: and :evidence1:?]\nAnswer: :evidence2:\n"
		p, _, _ := scripted(t, []plannertest.Reply{{Text: plan}}, &tooltest.Slow{ToolName: "Slow", Delay: time.Hour})
		p.Budget.Time = time.Minute
		start := time.Now()
		tr, err := p.Ask(context.Background(), "Who won?", nil)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != time.Minute {
			t.Errorf("took %s, want the minute of the budget", took)
		}
		if tr.Stop != StopBudgetTime || !tr.Partial || !strings.Contains(tr.Answer.Text, "over [:evidence0:]") {
			t.Errorf("stop %q, partial %v, answer %+v", tr.Stop, tr.Partial, tr.Answer)
		}
	})
}

func engineReq() engine.Request { return engine.Request{Prompt: "BEGININPUT", MaxTokens: 8} }

func cited(req tools.Request) []string {
	var out []string
	for _, c := range req.Cited {
		out = append(out, c.Name)
	}
	return out
}

// replace returns a registry with reg's tools, x in place of the one of its name.
func replace(t *testing.T, reg *tools.Registry, x tools.Tool) *tools.Registry {
	t.Helper()
	out, err := tools.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range reg.All() {
		if tl.Name() == x.Name() {
			tl = x
		}
		if err := out.Add(tl); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestApproval: a tool marked confirm runs only when Approve says yes, is
// asked once per call (not again for a retry), and is refused with no Approve.
func TestApproval(t *testing.T) {
	plan := " :evidence0: = Delete[note 1]\nAnswer: :evidence0:\n"
	tests := []struct {
		name    string
		approve func(context.Context, Approval) error
		ran     bool
		asked   int64
	}{
		{"unattended", nil, false, 0},
		{"yes", func(context.Context, Approval) error { return nil }, true, 1},
		{"no", func(context.Context, Approval) error { return errors.New("refused at the terminal") }, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flaky := &tooltest.Flaky{ToolName: "Delete", Failures: 1}
			p, _, _ := scripted(t, []plannertest.Reply{{Text: plan}})
			if err := p.Tools.Add(tools.WithConfirm(flaky)); err != nil {
				t.Fatal(err)
			}
			p.Resolve.Retries, p.Resolve.Backoff = 1, time.Millisecond
			var asked atomic.Int64
			var got Approval
			if tt.approve != nil {
				p.Approve = func(ctx context.Context, a Approval) error {
					asked.Add(1)
					got = a
					return tt.approve(ctx, a)
				}
			}
			tr, err := p.Ask(context.Background(), "Delete note 1", nil)
			if asked.Load() != tt.asked {
				t.Errorf("asked %d times, want %d", asked.Load(), tt.asked)
			}
			if tt.asked > 0 && (got.Tool != "Delete" || got.Step != ":evidence0:" || got.Input != "note 1") {
				t.Errorf("approval %+v", got)
			}
			if tt.ran {
				if err != nil || flaky.Calls() != 2 || tr.Answer.Text != "Delete(note 1)" {
					t.Errorf("err %v, calls %d, answer %+v", err, flaky.Calls(), tr.Answer)
				}
				return
			}
			if flaky.Calls() != 0 || !errors.Is(err, ErrAnswer) || !strings.Contains(tr.Steps[0].Error, "needs approval") {
				t.Errorf("calls %d, err %v, step %q", flaky.Calls(), err, tr.Steps[0].Error)
			}
		})
	}
}

// TestConversation: a later question's plan cites an earlier question's
// evidence by name, which does not run again, and its prompt recalls the
// earlier question and answer.
func TestConversation(t *testing.T) {
	first := " :evidence0: = DuckDuckGo[Nobel 2020]\nAnswer: :evidence0:\n"
	second := " :evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:\n"
	p, eng, rec := scripted(t, []plannertest.Reply{{Match: "Earlier in this conversation", Text: second}, {Text: first}})
	var c Conversation
	if _, err := c.Ask(context.Background(), p, "Who won in 2020?", nil); err != nil {
		t.Fatal(err)
	}
	tr, err := c.Ask(context.Background(), p, "What does the first page say?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec["DuckDuckGo"].Calls()); n != 1 {
		t.Errorf("DuckDuckGo ran %d times, want once", n)
	}
	if s := tr.Step(":evidence0:"); s == nil || !s.Reused || tr.Answer.Text != "page text of a" {
		t.Errorf("step 0 %+v, answer %+v", s, tr.Answer)
	}
	prompt := eng.Calls()[1].Request.Prompt
	for _, s := range []string{"Question: Who won in 2020?\nAnswer: results for Nobel 2020", ":evidence0: = DuckDuckGo[Nobel 2020]", "first new evidence :evidence1:"} {
		if !strings.Contains(prompt, s) {
			t.Errorf("the second prompt lacks %q:\n%s", s, prompt)
		}
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for _, s := range tr.Steps {
			if !yield(s.Name) {
				return
			}
		}
	}); !slices.Equal(got, []string{":evidence0:", ":evidence1:"}) {
		t.Errorf("steps %q", got)
	}
}

// TestConversationCarriesNewest: a long conversation offers the newest
// evidence and what it depends on, not all of it.
func TestConversationCarriesNewest(t *testing.T) {
	var c Conversation
	for i := range maxCarried + 10 {
		st := &StepTrace{Name: fmt.Sprintf(":evidence%d:", i), State: StateDone}
		if i == maxCarried+9 {
			st.Deps = []string{":evidence0:"}
		}
		c.done = append(c.done, st)
	}
	got := c.evidence()
	if len(got) != maxCarried+1 || got[0].Name != ":evidence0:" || got[1].Name != ":evidence10:" || got[len(got)-1].Name != fmt.Sprintf(":evidence%d:", maxCarried+9) {
		t.Errorf("%d steps carried: %s ... %s", len(got), got[0].Name, got[len(got)-1].Name)
	}
}
