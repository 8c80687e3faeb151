package planner

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTools returns the seed's four tools as fakes: the search finds two pages, the
// scraper reads the URLs of its input, the link extractor echoes, and the
// knowledge model answers naming what it was given. Every call is recorded.
func fakeTools(t testing.TB, delay time.Duration) (*tools.Registry, map[string]*tooltest.Recorder) {
	t.Helper()
	wait := func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
			return nil
		}
	}
	fns := []tools.Func{
		{ToolName: "DuckDuckGo", Desc: "Searches the web.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
			if err := wait(ctx); err != nil {
				return tools.Output{}, err
			}
			return tools.Output{Text: "results for " + req.Input + ": https://a.example/ https://b.example/",
				Sources: []string{"https://a.example/", "https://b.example/"}}, nil
		}},
		{ToolName: "TextScraper", Desc: "Reads pages.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
			if err := wait(ctx); err != nil {
				return tools.Output{}, err
			}
			return tools.Output{Text: "page text of a", Sources: []string{"https://a.example/"}}, nil
		}},
		{ToolName: "Broken", Desc: "Always fails.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
			return tools.Output{}, errors.New("broken on purpose")
		}},
		{ToolName: "KnowledgeModel", Desc: "Answers a question over evidence.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
			var cited []string
			for _, c := range req.Cited {
				cited = append(cited, c.Name)
			}
			return tools.Output{Text: fmt.Sprintf("KM answer to %q over [%s]", req.Input, strings.Join(cited, " "))}, nil
		}},
	}
	rec := map[string]*tooltest.Recorder{}
	reg, err := tools.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		r := &tooltest.Recorder{Tool: f}
		rec[f.ToolName] = r
		if err := reg.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return reg, rec
}

const planWithAnswer = `Plan: Search the web.
:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020]
Plan: Read the first result.
:evidence1: = TextScraper[:evidence0:]
Plan: Ask the knowledge model.
:evidence2: = KnowledgeModel[Who won, given :evidence1:?]
Answer: :evidence2:
That is the plan.`

func newPlanner(t *testing.T, plan string, delay time.Duration) (*Planner, *plannertest.Engine, map[string]*tooltest.Recorder) {
	t.Helper()
	eng := &plannertest.Engine{Replies: []plannertest.Reply{{Text: " " + plan}}, Delay: delay}
	reg, rec := fakeTools(t, 0)
	return &Planner{LLM: Recorded(eng), Tools: reg}, eng, rec
}

func TestAskAnswerLine(t *testing.T) {
	p, eng, rec := newPlanner(t, planWithAnswer, 0)
	tr, err := p.Ask(context.Background(), "Who won the Nobel Prize in Literature in 2020?", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Answer{
		Text:   `KM answer to "Who won, given page text of a?" over [:evidence1:]`,
		From:   []string{":evidence2:"},
		Method: MethodAnswerLine,
		Sources: []Source{
			// b.example was a search result nobody read: not a source.
			{URL: "https://a.example/", Steps: []string{":evidence0:", ":evidence1:"}},
		},
	}
	if !reflect.DeepEqual(tr.Answer, want) {
		t.Errorf("answer = %+v\nwant %+v", tr.Answer, want)
	}
	if got := rec["TextScraper"].Calls()[0].Req.Input; !strings.HasPrefix(got, "results for Nobel Prize") {
		t.Errorf("TextScraper got %q, want the search results substituted", got)
	}
	if strings.Contains(tr.Plan, "That is the plan") {
		t.Errorf("generation went on past the Answer line: %q", tr.Plan)
	}
	calls := eng.Calls()
	if len(calls) != 1 || !strings.Contains(calls[0].Request.Prompt, "DuckDuckGo[input]: Searches the web.") {
		t.Fatalf("engine calls = %+v", calls)
	}
	if len(tr.EngineCalls) != 1 || tr.EngineCalls[0].Purpose != "plan" || tr.EngineCalls[0].Stop != StopAnswerLine ||
		tr.EngineCalls[0].Error != "" || tr.EngineCalls[0].Tokens == 0 || tr.EngineCalls[0].PromptTokens == 0 {
		t.Errorf("engine calls in the trace = %+v", tr.EngineCalls)
	}
	for _, s := range tr.Steps {
		if s.State != StateDone || s.Duration < 0 || s.Start < s.Parsed {
			t.Errorf("step %+v", s)
		}
	}
	if len(tr.Timings.CriticalPath) != 3 || tr.Timings.Total < tr.Timings.PlanDone {
		t.Errorf("timings %+v", tr.Timings)
	}
}

func TestAskStartsBeforeThePlanIsWritten(t *testing.T) {
	p, eng, rec := newPlanner(t, planWithAnswer, 5*time.Millisecond)
	var mu sync.Mutex
	var kinds []EventKind
	tr, err := p.Ask(context.Background(), "q?", func(e Event) {
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	planEnd := eng.Calls()[0].End
	first := rec["DuckDuckGo"].Calls()[0].Start
	if !first.Before(planEnd) {
		t.Errorf("the first tool call started %v after the plan was complete", first.Sub(planEnd))
	}
	if tr.Timings.FirstStep >= tr.Timings.PlanDone {
		t.Errorf("timings: first step at %.3fs, plan done at %.3fs", tr.Timings.FirstStep, tr.Timings.PlanDone)
	}
	// Events: text streams, then steps are parsed and started before the plan is done.
	idx := func(k EventKind) int {
		for i, x := range kinds {
			if x == k {
				return i
			}
		}
		return -1
	}
	if !(idx(PlanText) < idx(StepParsed) && idx(StepParsed) < idx(StepStarted) && idx(StepStarted) < idx(PlanDone)) {
		t.Errorf("event order: %v", kinds)
	}
}

func TestAskWithoutAnswerLine(t *testing.T) {
	plan := `:evidence0: = DuckDuckGo[who won]
:evidence1: = TextScraper[:evidence0:]`
	p, _, rec := newPlanner(t, plan, 0)
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Answer.Method != MethodKnowledge || tr.Answer.Text != `KM answer to "Who won?" over [:evidence0: :evidence1:]` {
		t.Errorf("answer = %+v", tr.Answer)
	}
	km := rec["KnowledgeModel"].Calls()
	if len(km) != 1 || len(km[0].Req.Cited) != 2 || km[0].Req.Cited[1].Text != "page text of a" {
		t.Errorf("KnowledgeModel calls = %+v", km)
	}
	if len(tr.Answer.Sources) != 2 {
		t.Errorf("sources = %+v", tr.Answer.Sources)
	}
}

func TestAskFailures(t *testing.T) {
	tests := []struct {
		name     string
		plan     string
		maxSteps int
		want     error
		diags    []string
	}{
		{"unknown tool", ":evidence0: = DuckDuckgo[x]\n:evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:", 0, ErrBadPlan,
			[]string{`1:16: unknown tool "DuckDuckgo" (did you mean "DuckDuckGo"?)`}},
		{"no steps", "I cannot make a plan for that.", 0, ErrBadPlan, nil},
		{"too many steps", ":evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n:evidence2: = DuckDuckGo[c]\nAnswer: :evidence2:", 2, ErrBadPlan,
			[]string{"3:1: :evidence2: is one step too many (at most 2)"}},
		{"too many steps at the end", ":evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]", 1, ErrTooManySteps,
			[]string{"2:1: :evidence1: is one step too many (at most 1)"}},
		{"answer from a failed step", ":evidence0: = Broken[a]\nAnswer: :evidence0:", 0, ErrAnswer, nil},
		{"answer from a skipped step", ":evidence0: = Broken[a]\n:evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:", 0, ErrAnswer, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, _ := newPlanner(t, tt.plan, 0)
			p.MaxSteps = tt.maxSteps
			tr, err := p.Ask(context.Background(), "q?", nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tr == nil || tr.Error == "" || tr.Answer != nil {
				t.Fatalf("trace = %+v", tr)
			}
			if tt.want == ErrBadPlan {
				var d planparser.Diagnostics
				if !errors.As(err, &d) || len(tr.Diagnostics) == 0 {
					t.Errorf("no diagnostics in %v / %q", err, tr.Diagnostics)
				}
			}
			if tt.diags != nil && !reflect.DeepEqual(tr.Diagnostics, tt.diags) {
				t.Errorf("diagnostics = %q, want %q", tr.Diagnostics, tt.diags)
			}
		})
	}
}

func TestAskCancelled(t *testing.T) {
	p, _, rec := newPlanner(t, planWithAnswer, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	tr, err := p.Ask(ctx, "q?", func(e Event) {
		if e.Kind == StepFinished {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if tr.Step(":evidence0:") == nil || tr.Step(":evidence0:").State != StateDone {
		t.Errorf("the finished step is missing from the trace: %+v", tr.Steps)
	}
	if strings.Contains(tr.Plan, "Answer:") || tr.Error == "" {
		t.Errorf("the plan went on after the cancel: %q (error %q)", tr.Plan, tr.Error)
	}
	if n := len(rec["KnowledgeModel"].Calls()); n != 0 {
		t.Errorf("KnowledgeModel ran %d times after the cancel", n)
	}
}

func TestPlanOnly(t *testing.T) {
	p, _, rec := newPlanner(t, planWithAnswer, 0)
	tr, err := p.Plan(context.Background(), "q?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.DAG.Steps) != 3 || tr.Answer != nil || len(rec["DuckDuckGo"].Calls()) != 0 {
		t.Errorf("plan-only ran tools or lost the plan: %+v", tr)
	}
	for _, s := range tr.Steps {
		if s.State != StatePending {
			t.Errorf("step %s is %s", s.Name, s.State)
		}
	}
}

func TestTraceJSON(t *testing.T) {
	p, _, _ := newPlanner(t, planWithAnswer, 0)
	tr, err := p.Ask(context.Background(), "q?", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"question", "prompt", "plan", "dag", "steps", "answer", "engine_calls", "timings"} {
		if back[k] == nil {
			t.Errorf("key %q missing in %s", k, data)
		}
	}
	steps := back["dag"].(map[string]any)["steps"].([]any)
	if len(steps) != 3 {
		t.Errorf("dag steps: %v", steps)
	}
}

func TestPromptGolden(t *testing.T) {
	reg, _ := fakeTools(t, 0)
	got, err := DefaultPrompts().Prompt("  Who won the Nobel Prize in Literature in 2020?\n", reg.All())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "prompt.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("prompt differs from %s:\n%s", golden, got)
	}
	if !strings.HasPrefix(got, "A chat between a curious user and an assistant.") || !strings.HasSuffix(got, "in 2020? ASSISTANT:") {
		t.Errorf("prompt is not in the Airoboros template: %q", got)
	}
}

func TestPromptErrors(t *testing.T) {
	tests := []struct {
		name     string
		prompts  Prompts
		question string
		want     string
	}{
		{"empty question", DefaultPrompts(), " \n", "empty question"},
		{"bad template", Prompts{Chat: DefaultPrompts().Chat, Plan: "{{.Question"}, "q", "plan prompt template"},
		{"unknown field", Prompts{Chat: DefaultPrompts().Chat, Plan: "{{.Nope}}"}, "q", "Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.prompts.Prompt(tt.question, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// chunkLLM writes its whole reply in one piece, as a server that batches tokens
// may.
type chunkLLM struct{ reply string }

func (c chunkLLM) Generate(_ context.Context, _ engine.Request, onText func(string) error) (engine.Result, error) {
	return engine.Result{Text: c.reply, Stop: engine.StopEOS}, onText(c.reply)
}

// TestAskIgnoresTextAfterAnswer checks the plan ends at its Answer line even when
// the text after it arrives in the same piece: later steps never run.
func TestAskIgnoresTextAfterAnswer(t *testing.T) {
	reg, rec := fakeTools(t, 0)
	p := &Planner{LLM: chunkLLM{":evidence0: = DuckDuckGo[a]\r\nAnswer: :evidence0:\r\n:evidence1: = DuckDuckGo[b]\nAnswer: :evidence1:\n"}, Tools: reg}
	tr, err := p.Ask(t.Context(), "q?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec["DuckDuckGo"].Calls()); n != 1 || len(tr.Steps) != 1 || len(tr.DAG.Steps) != 1 {
		t.Errorf("%d searches, %d steps traced, %d in the DAG; want 1", n, len(tr.Steps), len(tr.DAG.Steps))
	}
	if tr.Plan != ":evidence0: = DuckDuckGo[a]\r\nAnswer: :evidence0:\r\n" {
		t.Errorf("plan %q goes past its Answer line", tr.Plan)
	}
	if !strings.HasPrefix(tr.Answer.Text, "results for a") {
		t.Errorf("answer %q", tr.Answer.Text)
	}
}
