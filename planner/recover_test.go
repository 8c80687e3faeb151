package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// scripted returns a planner whose engine answers the first reply matching the
// prompt (a repair's prompt holds "cannot be run", a replan's "steps failed"),
// over the fake tools plus extra.
func scripted(t testing.TB, replies []plannertest.Reply, extra ...tools.Tool) (*Planner, *plannertest.Engine, map[string]*tooltest.Recorder) {
	t.Helper()
	eng := &plannertest.Engine{Replies: replies}
	reg, rec := fakeTools(t, 0)
	for _, x := range extra {
		r := &tooltest.Recorder{Tool: x}
		rec[x.Name()] = r
		if err := reg.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return &Planner{LLM: Recorded(eng), Tools: reg}, eng, rec
}

func purposes(tr *Trace) []string {
	var out []string
	for _, c := range tr.EngineCalls {
		out = append(out, c.Purpose)
	}
	return out
}

const repairMark = "cannot be run:"
const replanMark = "These of its steps failed"

func TestRepair(t *testing.T) {
	broken := " :evidence0: = DuckDuckgo[Nobel 2020]\nAnswer: :evidence0:\n"
	fixed := " :evidence0: = DuckDuckGo[Nobel 2020]\nAnswer: :evidence0:\n"
	tests := []struct {
		name     string
		repair   string // the reply to the repair prompt
		noRepair bool
		wantErr  bool
		calls    []string
	}{
		{"repaired", fixed, false, false, []string{"plan", "repair"}},
		{"still broken", " :evidence0: = TextScraper[:evidence7:]\nAnswer: :evidence0:\n", false, true, []string{"plan", "repair"}},
		{"no repair", fixed, true, true, []string{"plan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, eng, _ := scripted(t, []plannertest.Reply{{Match: repairMark, Text: tt.repair}, {Text: broken}})
			p.NoRepair = tt.noRepair
			tr, err := p.Ask(context.Background(), "Who won?", nil)
			if got := purposes(tr); !slices.Equal(got, tt.calls) {
				t.Errorf("engine calls %q, want %q", got, tt.calls)
			}
			if !tt.noRepair {
				prompt := eng.Calls()[1].Request.Prompt
				for _, s := range []string{"DuckDuckgo[Nobel 2020]", `unknown tool "DuckDuckgo" (did you mean "DuckDuckGo"?)`, "Question: Who won?"} {
					if !strings.Contains(prompt, s) {
						t.Errorf("the repair prompt lacks %q:\n%s", s, prompt)
					}
				}
			}
			if tt.wantErr {
				if !errors.Is(err, ErrBadPlan) || tr.Answer != nil || tr.Stop != StopBadPlan {
					t.Fatalf("err %v, stop %q; want ErrBadPlan", err, tr.Stop)
				}
				if !tt.noRepair {
					// Both plans in the error, and the first in the trace's attempts.
					for _, s := range []string{"DuckDuckgo[Nobel 2020]", "TextScraper[:evidence7:]", "before its repair"} {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("the error lacks %q:\n%v", s, err)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Attempts) != 1 || tr.Attempts[0].Why != AttemptBadPlan || len(tr.Attempts[0].Diagnostics) == 0 {
				t.Errorf("attempts %+v", tr.Attempts)
			}
			if tr.Answer == nil || !strings.HasPrefix(tr.Answer.Text, "results for Nobel 2020") || tr.Stop != StopAnswered {
				t.Errorf("answer %+v, stop %q", tr.Answer, tr.Stop)
			}
		})
	}
}

// TestRepairReusesStepsRun: the steps of a broken plan that ran before its
// problem was written are not run again by the repaired plan.
func TestRepairReusesStepsRun(t *testing.T) {
	broken := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = TextScraper[:evidence9:]\nAnswer: :evidence1:\n"
	fixed := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:\n"
	p, _, rec := scripted(t, []plannertest.Reply{{Match: repairMark, Text: fixed}, {Text: broken}})
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec["DuckDuckGo"].Calls()); n != 1 {
		t.Errorf("DuckDuckGo ran %d times, want once", n)
	}
	if s := tr.Step(":evidence0:"); s == nil || !s.Reused || s.State != StateDone {
		t.Errorf("step 0 %+v, want reused", s)
	}
}

// TestReplanReusesEvidence: a step fails, the new plan cites the evidence
// that succeeded by its old name, and that step never runs again.
func TestReplanReusesEvidence(t *testing.T) {
	first := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = Broken[:evidence0:]\nAnswer: :evidence1:\n"
	// The new plan writes the gathered step again (dropped: it is there) and
	// continues the numbering.
	second := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence2: = TextScraper[:evidence0:]\nAnswer: :evidence2:\n"
	p, eng, rec := scripted(t, []plannertest.Reply{{Match: replanMark, Text: second}, {Text: first}})
	p.Replans = 2
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := purposes(tr); !slices.Equal(got, []string{"plan", "replan"}) {
		t.Errorf("engine calls %q", got)
	}
	if n := len(rec["DuckDuckGo"].Calls()); n != 1 {
		t.Errorf("DuckDuckGo ran %d times, want once: its evidence is reused", n)
	}
	if tr.Replans != 1 || len(tr.Attempts) != 1 || tr.Attempts[0].Why != AttemptStepsFailed || tr.Partial || tr.Stop != StopAnswered {
		t.Errorf("replans %d, attempts %+v, partial %v, stop %q", tr.Replans, tr.Attempts, tr.Partial, tr.Stop)
	}
	if s := tr.Step(":evidence0:"); s == nil || !s.Reused {
		t.Errorf("step 0 %+v, want reused", s)
	}
	if s := tr.Step(":evidence2:"); s == nil || s.State != StateDone || !strings.HasPrefix(rec["TextScraper"].Calls()[0].Req.Input, "results for Nobel 2020") {
		t.Errorf("step 2 %+v", s)
	}
	if tr.Answer == nil || tr.Answer.Text != "page text of a" {
		t.Errorf("answer %+v", tr.Answer)
	}
	prompt := eng.Calls()[1].Request.Prompt
	for _, s := range []string{":evidence1: = Broken[:evidence0:]: failed broken on purpose", "Evidence already gathered",
		":evidence0: = DuckDuckGo[Nobel 2020]\n  results for Nobel 2020", "first new evidence :evidence2:"} {
		if !strings.Contains(prompt, s) {
			t.Errorf("the replan prompt lacks %q:\n%s", s, prompt)
		}
	}
}

// TestPartial: steps fail and no new plan may be asked for, or the new ones
// fail too: the answer is made from the evidence there is, marked partial,
// naming what failed.
func TestPartial(t *testing.T) {
	plan := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = Broken[x]\n:evidence2: = KnowledgeModel[Who, given :evidence0: and :evidence1:?]\nAnswer: :evidence2:\n"
	for _, replans := range []int{0, 2} {
		t.Run(fmt.Sprint("replans=", replans), func(t *testing.T) {
			p, _, rec := scripted(t, []plannertest.Reply{{Text: plan}})
			p.Replans = replans
			tr, err := p.Ask(context.Background(), "Who won?", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Partial || tr.Answer == nil || !tr.Answer.Partial || tr.Answer.Method != MethodKnowledge ||
				!strings.Contains(tr.Answer.Text, "over [:evidence0:]") {
				t.Fatalf("answer %+v, partial %v", tr.Answer, tr.Partial)
			}
			if len(tr.Failures) != 2 || !strings.Contains(tr.Failures[0], ":evidence1: = Broken[x] failed: broken on purpose") ||
				!strings.Contains(tr.Failures[1], ":evidence2:") {
				t.Errorf("failures %q", tr.Failures)
			}
			wantStop := StopPartial
			if replans > 0 {
				wantStop = StopReplanLimit
			}
			if tr.Replans != replans || tr.Stop != wantStop {
				t.Errorf("replans %d, stop %q; want %d, %q", tr.Replans, tr.Stop, replans, wantStop)
			}
			if n := len(rec["DuckDuckGo"].Calls()); n != 1 {
				t.Errorf("DuckDuckGo ran %d times, want once", n)
			}
		})
	}
}

// TestPartialBlocked: a search block with nothing else gathered is no answer,
// and the error names the block.
func TestPartialBlocked(t *testing.T) {
	blocked := &tooltest.Failing{ToolName: "Search2", Err: fmt.Errorf("DuckDuckGo search for %q: search engine %w the request", "x", tools.ErrBlocked)}
	p, _, _ := scripted(t, []plannertest.Reply{{Text: " :evidence0: = Search2[x]\nAnswer: :evidence0:\n"}}, blocked)
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if !errors.Is(err, ErrAnswer) || !errors.Is(err, tools.ErrBlocked) || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("err %v, want ErrAnswer and ErrBlocked", err)
	}
	if s := tr.Step(":evidence0:"); !s.Blocked || tr.Answer != nil || !strings.Contains(tr.Failures[0], "] blocked: ") {
		t.Errorf("step %+v, failures %q", s, tr.Failures)
	}
}

// TestPartialFromAnswerLine: without a knowledge model, the partial answer is
// the Answer line with a note in place of what failed.
func TestPartialFromAnswerLine(t *testing.T) {
	eng := &plannertest.Engine{Replies: []plannertest.Reply{{Text: " :evidence0: = S[a]\n:evidence1: = F[b]\nAnswer: :evidence0: and :evidence1:\n"}}}
	reg, err := tools.NewRegistry(&tooltest.Slow{ToolName: "S"}, &tooltest.Failing{ToolName: "F"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := (&Planner{LLM: Recorded(eng), Tools: reg}).Ask(context.Background(), "q?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := tr.Answer; a == nil || !a.Partial || !strings.HasPrefix(a.Text, "S(a) and ") || !strings.Contains(a.Text, "failed") || !slices.Equal(a.From, []string{":evidence0:"}) {
		t.Errorf("answer %+v", tr.Answer)
	}
}

// TestReplanFitsContext: a replan prompt that would not leave a new plan room
// in the model's context quotes the evidence shorter; when even the shortest
// does not fit, no replan is asked for and the answer is made from the
// evidence there is (was: the question ended with a context-length error).
func TestReplanFitsContext(t *testing.T) {
	long := tools.Func{ToolName: "Long", Desc: "Returns a long text.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: strings.Repeat("abcd ", 200)}, nil
	}}
	first := " :evidence0: = Long[x]\n:evidence1: = Broken[:evidence0:]\nAnswer: :evidence1:\n"
	second := " :evidence2: = TextScraper[:evidence0:]\nAnswer: :evidence2:\n"
	run := func(context int) (*Trace, *plannertest.Engine) {
		t.Helper()
		p, eng, _ := scripted(t, []plannertest.Reply{{Match: replanMark, Text: second}, {Text: first}}, long)
		eng.Context = context
		p.Replans = 1
		tr, err := p.Ask(t.Context(), "Who won?", nil)
		if err != nil {
			t.Fatalf("context %d: %v", context, err)
		}
		return tr, eng
	}
	// The prompts' sizes with room to spare.
	_, eng := run(0)
	calls := eng.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d engine calls, want plan and replan", len(calls))
	}
	planN, _ := eng.CountTokens(calls[0].Request.Prompt)
	fullN, _ := eng.CountTokens(calls[1].Request.Prompt)
	if !strings.Contains(calls[1].Request.Prompt, strings.Repeat("abcd ", 100)) {
		t.Fatalf("the roomy replan prompt does not quote the evidence at length:\n%s", calls[1].Request.Prompt)
	}

	t.Run("shorter quotes", func(t *testing.T) {
		tr, eng := run(fullN + minPlanRoom - 1)
		calls := eng.Calls()
		if got := purposes(tr); !slices.Equal(got, []string{"plan", "replan"}) || len(calls) != 2 {
			t.Fatalf("engine calls %q", got)
		}
		n, _ := eng.CountTokens(calls[1].Request.Prompt)
		if n >= fullN || eng.ContextLength()-n < minPlanRoom {
			t.Errorf("replan prompt of %d tokens (full %d) in a context of %d", n, fullN, eng.ContextLength())
		}
		if tr.Partial || tr.Answer == nil || tr.Answer.Text != "page text of a" {
			t.Errorf("answer %+v, partial %v", tr.Answer, tr.Partial)
		}
	})
	t.Run("no room", func(t *testing.T) {
		tr, _ := run(planN + minPlanRoom)
		if got := purposes(tr); slices.Contains(got, "replan") {
			t.Errorf("engine calls %q: a replan was asked for with no room", got)
		}
		if !tr.Partial || tr.Answer == nil || !tr.Answer.Partial || tr.Replans != 0 || tr.Stop != StopPartial {
			t.Errorf("answer %+v, partial %v, replans %d, stop %q", tr.Answer, tr.Partial, tr.Replans, tr.Stop)
		}
	})
}
