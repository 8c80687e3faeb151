package constrain

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/planparser"
)

// randomModel stands in for a checkpoint with random weights: every step's logits
// are seeded noise over the whole vocabulary.
type randomModel struct {
	rng   *rand.Rand
	scale float32
}

func (m randomModel) logits(vocab int) []float32 {
	out := make([]float32, vocab)
	for i := range out {
		out[i] = (m.rng.Float32()*2 - 1) * m.scale
	}
	return out
}

// decode runs one constrained generation: forced tokens are fed as they are,
// the rest sampled from the filtered logits. It returns the tokens.
func decode(t testing.TB, ix *Index, next func() []float32, s engine.Sampling, maxTokens int) (*Decoder, []int) {
	t.Helper()
	d, err := ix.NewDecoder(maxTokens)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := sample.New(s, ix.VocabSize())
	if err != nil {
		t.Fatal(err)
	}
	g := ix.Grammar()
	var out []int
	for len(out) < maxTokens {
		if fin := len(g.Finish(d.State())); fin > g.MaxFinish() {
			t.Fatalf("completion of %d bytes beyond MaxFinish %d after %q", fin, g.MaxFinish(), d.Text())
		}
		ids := d.Forced()
		if len(ids) == 0 {
			logits := next()
			if err := d.Filter(logits); err != nil {
				t.Fatal(err)
			}
			id, err := sp.Sample(logits)
			if err != nil {
				t.Fatalf("after %q: %v", d.Text(), err)
			}
			ids = []int{id}
		}
		for _, id := range ids {
			if err := d.Advance(id); err != nil {
				t.Fatalf("after %q: %v", d.Text(), err)
			}
			out = append(out, id)
			if id == ix.eos {
				return d, out
			}
			if err := sp.Observe(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return d, out
}

// TestRandomModel samples plans from random logits under the constraint, over
// many seeds, temperatures and token budgets: every one is a complete plan with
// an Answer line that planparser parses and validates, within the budget.
func TestRandomModel(t *testing.T) {
	tok := llama(t)
	g := mustGrammar(t, Options{Tools: corpusTools, RequireAnswer: true})
	ix, err := NewIndex(g, tok)
	if err != nil {
		t.Fatal(err)
	}
	seeds := 8
	if testing.Short() {
		seeds = 2
	}
	for _, temp := range []float64{0, 0.7, 1, 1.5} {
		for _, budget := range []int{48, 160, 512} {
			for seed := range uint64(seeds) {
				t.Run(fmt.Sprintf("t%v/b%d/s%d", temp, budget, seed), func(t *testing.T) {
					m := randomModel{rng: rand.New(rand.NewPCG(seed, uint64(budget))), scale: 8}
					s := engine.Sampling{Temperature: temp, TopK: 50, TopP: 0.95, RepetitionPenalty: 1.15, Seed: seed}
					d, ids := decode(t, ix, func() []float32 { return m.logits(ix.VocabSize()) }, s, budget)
					if len(ids) > budget {
						t.Fatalf("%d tokens for a budget of %d", len(ids), budget)
					}
					if !d.Done() {
						t.Fatalf("incomplete plan after %d tokens:\n%s", len(ids), d.Text())
					}
					p, err := planparser.Parse(d.Text(), planparser.Options{Tools: corpusTools})
					if err != nil {
						t.Fatalf("plan does not validate: %v\n%s", err, d.Text())
					}
					if p.Answer == nil || len(p.Steps) == 0 {
						t.Fatalf("plan without steps or answer:\n%s", d.Text())
					}
					if text := tok.Decode(ids); valid(text) != nil {
						t.Fatalf("decoded text does not validate:\n%s", text)
					}
				})
			}
		}
	}
}
