package sample

import (
	"math/rand/v2"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// BenchmarkSample times one token's sampling over a LLaMA-sized vocabulary with
// logits shaped like a model's (normal, a few standing out) and a 512-token history.
func BenchmarkSample(b *testing.B) {
	const vocab = 32000
	r := rand.New(rand.NewPCG(7, 7))
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 2)
	}
	for range 20 {
		logits[r.IntN(vocab)] += 12
	}
	history := make([]int, 512)
	for i := range history {
		history[i] = r.IntN(vocab)
	}
	for _, bc := range []struct {
		name string
		cfg  engine.Sampling
	}{
		{"greedy", engine.Sampling{}},
		{"greedy+penalty", engine.Sampling{RepetitionPenalty: 1.15}},
		{"temperature", engine.Sampling{Temperature: 0.7}},
		{"top-k=50", engine.Sampling{Temperature: 0.7, TopK: 50}},
		{"top-p=0.95", engine.Sampling{Temperature: 0.7, TopP: 0.95}},
		{"seed-card", engine.Sampling{Temperature: 0.7, TopP: 0.95, RepetitionPenalty: 1.15}},
		{"seed-card+top-k=50", engine.Sampling{Temperature: 0.7, TopK: 50, TopP: 0.95, RepetitionPenalty: 1.15}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(bc.cfg, vocab)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Observe(history...); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Sample(logits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
