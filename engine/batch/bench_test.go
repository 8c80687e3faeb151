package batch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/tools/links"
	"github.com/rewoo-agent/agent/tools/scrape"
	"github.com/rewoo-agent/agent/tools/search"
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

// BenchmarkPlanTTFT measures the time to the first token of a reWOO plan prompt
// (the planner's default prompt over the built-in tools, a new question each
// time) on the CPU backend, on a random 4-bit checkpoint of 4 layers of width 256
// with LLaMA's vocabulary, and reports the prompt's tokens and those a prefix hit
// saved. "miss" starts each prompt on an empty prefix cache; "hit" on one that
// holds the instruction and the tool list from an earlier question.
func BenchmarkPlanTTFT(b *testing.B) {
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		b.Fatal(err)
	}
	ck := randomCheckpoint("plan-4bit-128g", gptq.Config{Hidden: 256, Intermediate: 768, Layers: 4, Heads: 4, KVHeads: 4,
		Vocab: 32000, Context: 1024, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2},
		gptq.Quantization{Bits: 4, GroupSize: 128, Format: "gptq"}, 6)
	m, err := llama.Open(context.Background(), ck.dir(b), cpu.New(), llama.Options{Paged: &llama.Paged{Sequences: 2}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	ts := []tools.Tool{&search.Tool{}, &scrape.Scraper{}, links.Extractor{}, &knowledge.Model{}}
	question := 0
	prompt := func() []int {
		question++
		p, err := planner.DefaultPrompts().Prompt(fmt.Sprintf("Who won the Nobel Prize in Literature in %d?", 1900+question), ts)
		if err != nil {
			b.Fatal(err)
		}
		return append([]int{1}, tok.Encode(p)...)
	}
	first := func(s *Scheduler, p []int) {
		if _, _, err := s.GenerateIDs(context.Background(), p, engine.Request{MaxTokens: 1}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("miss", func(b *testing.B) {
		var saved int64
		var p []int
		for b.Loop() {
			b.StopTimer()
			s, err := New(m, tok, Options{})
			if err != nil {
				b.Fatal(err)
			}
			p = prompt()
			b.StartTimer()
			first(s, p)
			b.StopTimer()
			saved += s.Stats().TokensSaved
			s.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(len(p)), "prompt-tokens")
		b.ReportMetric(float64(saved)/float64(b.N), "saved-tokens/op")
	})
	b.Run("hit", func(b *testing.B) {
		s, err := New(m, tok, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		first(s, prompt())
		warm := s.Stats().TokensSaved
		var p []int
		n := 0
		for b.Loop() {
			b.StopTimer()
			p = prompt()
			b.StartTimer()
			first(s, p)
			n++
		}
		st := s.Stats()
		b.ReportMetric(float64(len(p)), "prompt-tokens")
		b.ReportMetric(float64(st.TokensSaved-warm)/float64(n), "saved-tokens/op")
	})
}
