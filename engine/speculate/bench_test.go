package speculate_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/speculate"
)

// benchModel loads the model the benchmarks time: $AGENT_BENCH_MODEL (a LLaMA
// checkpoint of the 32000-id LLaMA vocabulary, since the prompts are the
// shipped model's held-out ids) on $AGENT_BENCH_DEVICE, by default the shipped
// model on the CPU. A CUDA test binary times a GPU with them.
func benchModel(b *testing.B) *open.Loaded {
	b.Helper()
	spec := open.Spec{Model: cmp.Or(os.Getenv("AGENT_BENCH_MODEL"), rewooDir()), Device: cmp.Or(os.Getenv("AGENT_BENCH_DEVICE"), "cpu"), IDsOnly: true}
	l, err := open.Model(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	b.Logf("%s on %s", l.Dir, l.Model.BackendName())
	return l
}

// BenchmarkForwardRows times one step at the end of a ~400-token plan prompt
// feeding T rows (the verify step of T-1 drafts), against T=1: what a draft
// costs on the backend. T%d/logits copies every row's logits back (host
// verification); T%d/ids, on a model that samples rows on the device, copies
// back each row's greedy id (ForwardSampleRows, what a speculative step does
// there), and T1/sample is plain decoding's step there (ForwardSample). Two
// untimed steps first, so a backend that captures a step's work as a graph on
// its second run (CUDA) is timed replaying it.
func BenchmarkForwardRows(b *testing.B) {
	plans, _ := heldout(b)
	m := benchModel(b).Model
	ctx := context.Background()
	prompt := plans[0]
	if _, err := m.Forward(ctx, prompt, 0, 1); err != nil {
		b.Fatal(err)
	}
	timed := func(b *testing.B, step func(start int) error, T int) {
		start := len(prompt) - T
		for range 2 {
			if err := step(start); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if err := step(start); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
	}
	for _, T := range []int{1, 2, 3, 5, 9} {
		b.Run(fmt.Sprintf("T%d/logits", T), func(b *testing.B) {
			timed(b, func(start int) error {
				_, err := m.Forward(ctx, prompt[start:], start, T)
				return err
			}, T)
		})
		if !m.SamplesRowsOnDevice() {
			continue
		}
		b.Run(fmt.Sprintf("T%d/ids", T), func(b *testing.B) {
			rows := make([]engine.RowSample, T)
			for i := range rows {
				rows[i].Row = i
			}
			timed(b, func(start int) error {
				_, err := m.ForwardSampleRows(ctx, prompt[start:], start, rows)
				return err
			}, T)
		})
		if T == 1 && m.SamplesOnDevice() {
			b.Run("T1/sample", func(b *testing.B) {
				timed(b, func(start int) error {
					_, err := m.ForwardSample(ctx, prompt[start:], start, engine.Sampling{}, nil, 0)
					return err
				}, 1)
			})
		}
	}
}

// BenchmarkGenerate decodes the held-out plan and KnowledgeModel prompts
// greedily, plainly and with prompt lookup at several draft lengths, and
// reports decode tok/s (prefill excluded), the share of drafts kept, the
// tokens per step and the rows fed per token.
func BenchmarkGenerate(b *testing.B) {
	plans, knowledge := heldout(b)
	l := benchModel(b)
	sets := []struct {
		name    string
		prompts [][]int
		max     int
	}{
		{"plan", plans[:2], 160},
		{"knowledge", knowledge, 40},
	}
	for _, set := range sets {
		for _, sp := range []struct {
			k        int
			adaptive bool
		}{{0, false}, {1, false}, {2, false}, {3, false}, {4, false}, {8, false}, {4, true}, {8, true}} {
			name := fmt.Sprintf("%s/plain", set.name)
			if sp.k > 0 {
				name = fmt.Sprintf("%s/lookup-k%d", set.name, sp.k)
			}
			if sp.adaptive {
				name += "-adaptive"
			}
			b.Run(name, func(b *testing.B) {
				g := l.Generator
				var d generate.Drafter
				if sp.k > 0 {
					d = speculate.Lookup{}
				}
				if err := g.Speculate(generate.Speculation{Drafter: d, MaxDraft: sp.k, Adaptive: sp.adaptive}); err != nil {
					b.Fatal(err)
				}
				var sum engine.Result
				for b.Loop() {
					for _, p := range set.prompts {
						res, _, err := g.GenerateIDs(context.Background(), p, engine.Request{MaxTokens: set.max}, nil)
						if err != nil {
							b.Fatal(err)
						}
						sum.Tokens += res.Tokens
						sum.GenTime += res.GenTime
						sum.Steps += res.Steps
						sum.Drafted += res.Drafted
						sum.Accepted += res.Accepted
					}
				}
				b.ReportMetric(float64(sum.Tokens)/sum.GenTime.Seconds(), "tok/s")
				b.ReportMetric(float64(sum.Tokens)/float64(max(sum.Steps, 1)), "tok/step")
				// The rows fed per token: the work of a backend whose rows
				// cost what a step does (the CPU).
				b.ReportMetric(float64(sum.Steps+sum.Drafted)/float64(sum.Tokens), "rows/tok")
				if sum.Drafted > 0 {
					b.ReportMetric(100*float64(sum.Accepted)/float64(sum.Drafted), "%kept")
				}
			})
		}
	}
}
