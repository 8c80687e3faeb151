package llama

import (
	"context"
	"fmt"
	"testing"

	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
)

// BenchmarkLayer7B runs one LLaMA-7B-shaped decoder layer (hidden 4096,
// intermediate 11008, 32 heads; 4-bit 128g act-order; a 256-token vocabulary so the
// layer dominates) on the CPU backend: decoding one token at position 128, and a
// 32-token prompt chunk. tok/s is per layer: divide by 32 layers for a whole 7B.
func BenchmarkLayer7B(b *testing.B) {
	dir := b.TempDir()
	cfg := gptq.Config{Hidden: 4096, Intermediate: 11008, Layers: 1, Heads: 32, KVHeads: 32, Vocab: 256,
		Context: 256, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	spec := gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 128, Sym: true, DescAct: true}, Seed: 1}
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	m, err := Open(ctx, dir, cpu.New(), Options{MaxBatch: 32})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompt := make([]int, 129)
	for i := range prompt {
		prompt[i] = (i * 7) % cfg.Vocab
	}
	if _, err := m.Forward(ctx, prompt[:128], 0, 1); err != nil {
		b.Fatal(err)
	}
	for _, T := range []int{1, 32} {
		b.Run(fmt.Sprintf("T%d", T), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Forward(ctx, prompt[128-T+1:129], 128-T+1, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(T*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
