package planner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

// randomEngine is the real CPU engine over a random-weight GPTQ checkpoint
// with the LLaMA vocabulary: a local model that writes noise.
func randomEngine(t *testing.T) *generate.Generator {
	t.Helper()
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 4, Vocab: tok.VocabSize(),
		Context: 2048, NormEps: 1e-5, RopeTheta: 10000, BOS: tok.BOS(), EOS: tok.EOS()}
	spec := gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 64, Sym: true}, Seed: 7}
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(context.Background(), dir, cpu.New(), llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return generate.New(m, tok)
}

// okTools are tools that always answer, named as the default prompt's.
func okTools(t *testing.T) *tools.Registry {
	t.Helper()
	reg, err := tools.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DuckDuckGo", "TextScraper", "KnowledgeModel"} {
		f := tools.Func{ToolName: name, Desc: "Answers anything.", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
			return tools.Output{Text: name + " says yes"}, nil
		}}
		if err := reg.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// TestConstrainedRandomCheckpoint asks questions of a random-weight model, as
// agent ask does (through Recorded): under the constraint, on by default, every
// plan validates and the question is answered, for every seed and temperature,
// and the plan's engine call is recorded with no stop strings; with
// NoConstrain the same model writes a plan that fails validation, twice (the
// plan and its repair).
func TestConstrainedRandomCheckpoint(t *testing.T) {
	gen := randomEngine(t)
	llm := Recorded(gen)
	if constrainedOf(llm) == nil {
		t.Fatal("the recorded local engine hides engine.Constrained")
	}
	reg := okTools(t)
	var indexes PlanIndexes // shared by the questions, as agent's asker does
	const question = "Who won the Nobel Prize in Literature in 2020?"
	seeds := 3
	if testing.Short() {
		seeds = 1
	}
	for _, temp := range []float64{0, 0.7, 1.3} {
		for seed := range uint64(seeds) {
			t.Run(fmt.Sprintf("t%v/s%d", temp, seed), func(t *testing.T) {
				p := &Planner{LLM: llm, Tools: reg, MaxPlanTokens: 160, Indexes: &indexes, Sampling: engine.Sampling{Temperature: temp, TopP: 0.95, Seed: seed}}
				tr, err := p.Ask(context.Background(), question, nil)
				if err != nil {
					t.Fatalf("%v; plan:\n%s", err, tr.Plan)
				}
				plan, err := planparser.Parse(tr.Plan, planparser.Options{Tools: reg.Names()})
				if err != nil || plan.Answer == nil {
					t.Fatalf("plan does not validate (%v) or has no answer:\n%s", err, tr.Plan)
				}
				if tr.Answer == nil || len(tr.Attempts) != 0 {
					t.Fatalf("answer %+v after %d attempts", tr.Answer, len(tr.Attempts))
				}
				c := tr.EngineCalls[0]
				if c.Purpose != "plan" || c.Tokens == 0 || c.Tokens > 160 {
					t.Fatalf("first engine call %+v, want the plan's within 160 tokens", c)
				}
			})
		}
	}
	if len(indexes.by) != 1 {
		t.Fatalf("%d indexes for the questions, want 1 shared", len(indexes.by))
	}
	t.Run("off", func(t *testing.T) {
		p := &Planner{LLM: llm, Tools: reg, MaxPlanTokens: 160, NoConstrain: true, Sampling: engine.Sampling{Temperature: 0.7, Seed: 1}}
		tr, err := p.Ask(context.Background(), question, nil)
		if !errors.Is(err, ErrBadPlan) {
			t.Fatalf("err %v, want ErrBadPlan; plan:\n%s", err, tr.Plan)
		}
		if len(tr.EngineCalls) != 2 || tr.EngineCalls[1].Purpose != "repair" {
			t.Fatalf("engine calls %+v, want the plan and its repair", tr.EngineCalls)
		}
	})
}

// TestConstrainedAfterPrefix writes a plan after gathered steps, as a new plan
// after failures does: the steps' names count as defined (the plan may cite
// them and may not define them again) and the model may still write its own
// full count of steps.
func TestConstrainedAfterPrefix(t *testing.T) {
	gen := randomEngine(t)
	reg := okTools(t)
	prefix := ":evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = TextScraper[:evidence0:]\n"
	for seed := range uint64(4) {
		p := &Planner{LLM: gen, Tools: reg, MaxPlanTokens: 160, MaxSteps: 2, Sampling: engine.Sampling{Temperature: 1, Seed: seed}}
		s := p.newSession("q", nil, nil)
		req, llm, err := s.planRequest("USER: Who won? ASSISTANT:", prefix, 2, 2)
		if err != nil || llm == nil {
			t.Fatalf("planRequest: %v, engine %v", err, llm)
		}
		if len(req.Stop) != 0 {
			t.Fatalf("stop strings %q under the constraint", req.Stop)
		}
		res, err := llm.Generate(withRecorder(context.Background(), s.rec), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := planparser.Parse(prefix+res.Text, planparser.Options{Tools: reg.Names()})
		if err != nil || plan.Answer == nil {
			t.Fatalf("seed %d: plan does not validate (%v) or has no answer:\n%s", seed, err, prefix+res.Text)
		}
		if n := len(plan.Steps) - 2; n > 2 {
			t.Fatalf("seed %d: %d new steps, want at most 2:\n%s", seed, n, res.Text)
		}
		if calls := s.rec.Calls(); len(calls) != 1 {
			t.Fatalf("recorded %d engine calls, want 1", len(calls))
		}
	}
	// Without the capability (a server) the plan is written freely.
	p := &Planner{LLM: plainLLM{gen}, Tools: reg}
	req, llm, err := p.newSession("q", nil, nil).planRequest("USER: Who won? ASSISTANT:", prefix, 2, 2)
	if err != nil || len(req.Stop) == 0 || constrainedOf(llm) != nil {
		t.Fatalf("a server's plan: err %v, stop %q, constrained %v", err, req.Stop, constrainedOf(llm) != nil)
	}
	if !strings.Contains(req.Prompt, "Who won") {
		t.Fatalf("prompt %q", req.Prompt)
	}
}

// BenchmarkPlanIndex is the cost of the token index of a question's plan
// grammar over the LLaMA vocabulary, built once per session.
func BenchmarkPlanIndex(b *testing.B) {
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"DuckDuckGo", "TextScraper", "KnowledgeModel"}
	for b.Loop() {
		var x PlanIndexes
		if _, err := x.get(names, DefaultMaxSteps, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConstrainedToolNames: a tool no plan can call by its name stays out of
// the grammar; with no tool left the plan is written freely.
func TestConstrainedToolNames(t *testing.T) {
	gen := randomEngine(t)
	fn := func(ctx context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "ok"}, nil
	}
	for _, tt := range []struct {
		names       []string
		constrained bool
	}{
		{[]string{"DuckDuckGo", "Wetter-ä"}, true},
		{[]string{"Wetter-ä", "9lives"}, false},
	} {
		reg, err := tools.NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tt.names {
			if err := reg.Add(tools.Func{ToolName: n, Desc: "d", Fn: fn}); err != nil {
				t.Fatal(err)
			}
		}
		p := &Planner{LLM: gen, Tools: reg, MaxPlanTokens: 120, Sampling: engine.Sampling{Temperature: 1, Seed: 3}}
		s := p.newSession("q", nil, nil)
		req, llm, err := s.planRequest("USER: Who won? ASSISTANT:", "", 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(req.Stop) == 0; got != tt.constrained {
			t.Fatalf("%q: constrained %v (stop %q), want %v", tt.names, got, req.Stop, tt.constrained)
		}
		if !tt.constrained {
			continue
		}
		res, err := llm.Generate(withRecorder(context.Background(), s.rec), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := planparser.Parse(res.Text, planparser.Options{Tools: []string{"DuckDuckGo"}})
		if err != nil || plan.Answer == nil {
			t.Fatalf("plan does not validate over DuckDuckGo alone (%v):\n%s", err, res.Text)
		}
	}
}
