package eval

import (
	"context"
	"testing"

	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/models"
	"github.com/rewoo-agent/agent/planner"
)

// ciQuestions and ciExactMatch are the offline set's first questions and the
// exact match the shipped model scored on them through the CPU engine when it was
// recorded (BENCHMARKS.md, round 4: all eight right). Greedy decoding
// makes the figure reproducible; ciSlack allows one question to flip (the CPU
// engine's sums may round differently on another processor), so falling below it
// means the model, the prompts, the tools or the engine changed for the worse.
const (
	ciQuestions  = 8
	ciExactMatch = 8.0 / 8
	ciSlack      = 1.0 / 8
)

// TestShippedModel runs the first offline questions through the whole loop:
// planner, LocalSearch over the world's documents, KnowledgeModel, Calculator, the shipped
// model on the CPU engine.
func TestShippedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s a question on a 2-core machine")
	}
	ctx := context.Background()
	dir := t.TempDir()
	set, err := Offline(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base, closeLLM, err := open.LLM(ctx, open.Spec{Model: models.Dir(models.RewooTiny), Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLLM()
	llm := planner.Recorded(base)
	reg, err := Tools(c, llm)
	if err != nil {
		t.Fatal(err)
	}
	p := &planner.Planner{LLM: llm, Tools: reg}
	rep, err := Run(ctx, set.Name, set.Items[:ciQuestions], func(ctx context.Context, q string) (*planner.Trace, error) {
		return p.Ask(ctx, q, nil)
	}, func(r Result) {
		t.Logf("%s EM %.0f %q (gold %q) %v", r.ID, r.ExactMatch, r.Prediction, r.Gold, r.Error)
	})
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	t.Logf("exact match %.3f, F1 %.3f, valid plans %.3f", tot.ExactMatch, tot.F1, tot.ValidPlans)
	if tot.ValidPlans < 1 {
		t.Errorf("valid plans %.2f, recorded 1.00", tot.ValidPlans)
	}
	if tot.ExactMatch < ciExactMatch-ciSlack-1e-9 {
		t.Errorf("exact match %.3f, recorded %.3f (at most %.3f below it allowed)", tot.ExactMatch, ciExactMatch, ciSlack)
	}
}
