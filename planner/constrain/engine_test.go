package constrain_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
	"github.com/rewoo-agent/agent/planner/constrain"
	"github.com/rewoo-agent/agent/planparser"
)

var (
	_ generate.Constraint = (*constrain.Decoder)(nil)
	_ generate.Preparer   = (*constrain.Decoder)(nil)
)

// TestRandomCheckpoint runs the real CPU engine on a random-weight GPTQ
// checkpoint with the LLaMA vocabulary, through generate.GenerateConstrained:
// for every seed and temperature the plan it writes is complete and validates.
func TestRandomCheckpoint(t *testing.T) {
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 4, Vocab: tok.VocabSize(),
		Context: 1024, NormEps: 1e-5, RopeTheta: 10000, BOS: tok.BOS(), EOS: tok.EOS()}
	spec := gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 64, Sym: true}, Seed: 7}
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := llama.Open(ctx, dir, cpu.New(), llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gen := generate.New(m, tok)
	tools := []string{"DuckDuckGo", "KnowledgeModel", "TextScraper"}
	g, err := constrain.New(constrain.Options{Tools: tools, RequireAnswer: true})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := constrain.NewIndex(g, tok)
	if err != nil {
		t.Fatal(err)
	}
	prompt := gen.PromptIDs("USER: Who won the Nobel Prize in Literature in 2020? ASSISTANT:")
	seeds := 4
	if testing.Short() {
		seeds = 1
	}
	for _, temp := range []float64{0, 0.7, 1.3} {
		for seed := range uint64(seeds) {
			t.Run(fmt.Sprintf("t%v/s%d", temp, seed), func(t *testing.T) {
				const budget = 200
				d, err := ix.NewDecoder(budget)
				if err != nil {
					t.Fatal(err)
				}
				req := engine.Request{MaxTokens: budget, Sampling: engine.Sampling{Temperature: temp, TopP: 0.95, RepetitionPenalty: 1.15, Seed: seed}}
				res, ids, err := gen.GenerateConstrained(ctx, prompt, req, d, nil)
				if err != nil {
					t.Fatalf("%v after %q", err, d.Text())
				}
				if len(ids) > budget || !d.Done() {
					t.Fatalf("%d tokens, done %v:\n%s", len(ids), d.Done(), d.Text())
				}
				p, err := planparser.Parse(res.Text, planparser.Options{Tools: tools})
				if err != nil || p.Answer == nil {
					t.Fatalf("plan does not validate (%v) or has no answer:\n%s", err, res.Text)
				}
			})
		}
	}
}
