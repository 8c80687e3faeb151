package batch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/llama"
)

// BenchmarkAggregate measures the aggregate decode speed of the scheduler on the
// CPU backend at 1, 4 and 16 concurrent greedy sequences (16-token prompts, up
// to 32 new tokens each, counted as generated) on a random 4-bit checkpoint of 8 layers of width 1024.
func BenchmarkAggregate(b *testing.B) {
	ck := randomCheckpoint("bench-4bit-128g", gptq.Config{Hidden: 1024, Intermediate: 2816, Layers: 8, Heads: 16, KVHeads: 16,
		Vocab: 4096, Context: 256, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2},
		gptq.Quantization{Bits: 4, GroupSize: 128, Format: "gptq"}, 5)
	dir := ck.dir(b)
	m := open(b, dir, &llama.Paged{Sequences: 16})
	s := newScheduler(b, m, Options{})
	const prompt, gen = 16, 32
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("seqs=%d", n), func(b *testing.B) {
			var tokens atomic.Int64
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						p := make([]int, prompt)
						for j := range p {
							p[j] = 3 + (i*97+j*13)%4000
						}
						_, ids, err := s.GenerateIDs(context.Background(), p, engine.Request{MaxTokens: gen}, nil)
						if err != nil {
							b.Error(err)
						}
						tokens.Add(int64(len(ids)))
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(tokens.Load())/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
