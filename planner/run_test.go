package planner

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/knowledge"
)

// TestAskEngineCallsBySteps has two KnowledgeModel steps with the same input,
// the second retried: each engine call is named by the step (and attempt) that
// made it, which no matching of tool names and inputs could tell apart.
func TestAskEngineCallsBySteps(t *testing.T) {
	const plan = ` :evidence0: = KnowledgeModel[Who won the prize?]
:evidence1: = KnowledgeModel[Who won the prize?]
Answer: :evidence1:
`
	eng := &plannertest.Engine{Replies: []plannertest.Reply{{Match: "BEGININSTRUCTION", Text: " Louise Glück."}, {Text: plan}}}
	llm := Recorded(eng)
	km := &knowledge.Model{LLM: llm}
	failed := false
	flaky := tools.Func{ToolName: km.Name(), Desc: km.Description(), Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
		out, err := km.Call(ctx, req)
		if c, _ := tools.CallInfoFrom(ctx); c.Step == ":evidence1:" && !failed {
			failed = true // the engine answered, but the tool fails once after it
			return tools.Output{}, tools.TransientAfter(errors.New("busy"), 0)
		}
		return out, err
	}}
	reg, err := tools.NewRegistry(flaky)
	if err != nil {
		t.Fatal(err)
	}
	p := &Planner{LLM: llm, Tools: reg, Resolve: evidence.Options{Concurrency: 1, Retries: 1}}
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range tr.EngineCalls {
		got = append(got, c.Purpose+" "+c.Step+" "+string(rune('0'+c.Attempt)))
	}
	want := []string{"plan  0", "tool KnowledgeModel :evidence0: 1", "tool KnowledgeModel :evidence1: 1", "tool KnowledgeModel :evidence1: 2"}
	if !slices.Equal(got, want) {
		t.Errorf("engine calls %q, want %q", got, want)
	}
	for i := 1; i < len(tr.EngineCalls); i++ {
		if tr.EngineCalls[i].Start < tr.EngineCalls[i-1].Start {
			t.Errorf("calls out of start order: %+v", tr.EngineCalls)
		}
	}
}

// TestRun resolves a written plan into the same Trace as Ask's, without a
// question or prompt.
func TestRun(t *testing.T) {
	reg, rec := fakeTools(t, 0)
	p := &Planner{Tools: reg}
	plan, err := planparser.Parse(planWithAnswer, planparser.Options{Tools: reg.Names()})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []EventKind
	tr, err := p.Run(context.Background(), plan, func(e Event) { kinds = append(kinds, e.Kind) })
	if err != nil {
		t.Fatal(err)
	}
	if tr.Answer == nil || tr.Answer.Method != MethodAnswerLine || !strings.HasPrefix(tr.Answer.Text, "KM answer to") || len(tr.Answer.Sources) != 1 {
		t.Errorf("answer %+v", tr.Answer)
	}
	if len(tr.Steps) != 3 || tr.Plan != plan.String() || tr.DAG != plan {
		t.Fatalf("trace %+v", tr)
	}
	for _, s := range tr.Steps {
		if s.State != StateDone || s.Start < 0 || s.Bytes != len(s.Output) {
			t.Errorf("step %+v", s)
		}
	}
	if in := tr.Steps[1].ResolvedInput; in != rec["TextScraper"].Calls()[0].Req.Input {
		t.Errorf("resolved input %q", in)
	}
	if n := strings.Count(strings.Join(kindStrings(kinds), " "), "step-finished"); n != 3 {
		t.Errorf("events %v", kinds)
	}
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back["question"]; ok {
		t.Errorf("run's trace has a question: %s", data)
	}
	if tm := back["timings"].(map[string]any); tm["total_s"] == nil || tm["critical_path"] == nil {
		t.Errorf("timings %v", tm)
	}

	// Without an Answer line there is no answer, and no error.
	plan, err = planparser.Parse(":evidence0: = DuckDuckGo[x]\n", planparser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := p.Run(context.Background(), plan, nil); err != nil || tr.Answer != nil || tr.Steps[0].State != StateDone {
		t.Errorf("run without an answer line: %+v, %v", tr, err)
	}
	// An answer citing failed evidence is an error.
	plan, err = planparser.Parse("#E1 = Broken[x]\nAnswer: #E1\n", planparser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := p.Run(context.Background(), plan, nil); !errors.Is(err, ErrAnswer) || tr.Error == "" || tr.Steps[0].State != StateFailed {
		t.Errorf("run with failed evidence: %+v, %v", tr, err)
	}
}

func kindStrings(ks []EventKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}
