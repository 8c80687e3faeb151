package batch

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

// idTok is a tokenizer for ids-only tests: prompts are given as ids, and each
// generated id decodes to one letter, so stop strings can be tested too.
type idTok struct{ bos, eos int }

func (t idTok) Encode(s string) []int {
	ids := make([]int, len(s))
	for i := range s {
		ids[i] = 3 + int(s[i])%26
	}
	return ids
}
func (t idTok) BOS() int             { return t.bos }
func (t idTok) EOS() int             { return t.eos }
func (t idTok) NewStream() *idStream { return &idStream{} }

type idStream struct{}

func (*idStream) Next(id int) string { return string(rune('a' + id%26)) }
func (*idStream) Flush() string      { return "" }

// checkpoint names a model folder for the tests: random ones of several
// quantizations and head layouts, and the repository's fixture.
type checkpoint struct {
	name string
	dir  func(t testing.TB) string
}

func randomCheckpoint(name string, cfg gptq.Config, q gptq.Quantization, seed uint64) checkpoint {
	return checkpoint{name, func(t testing.TB) string {
		dir := filepath.Join(t.TempDir(), name)
		if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: q, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return dir
	}}
}

var checkpoints = []checkpoint{
	randomCheckpoint("gqa-3bit-32g-actorder", gptq.Config{Hidden: 128, Intermediate: 256, Layers: 2, Heads: 4, KVHeads: 2,
		Vocab: 96, Context: 128, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2},
		gptq.Quantization{Bits: 3, GroupSize: 32, DescAct: true, Format: "gptq"}, 4),
	randomCheckpoint("mha-4bit-nogroup", gptq.Config{Hidden: 128, Intermediate: 320, Layers: 3, Heads: 2, KVHeads: 2,
		Vocab: 128, Context: 128, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2},
		gptq.Quantization{Bits: 4, GroupSize: -1, Format: "gptq"}, 8),
	{"fixture-tiny-4bit-128g-actorder", func(testing.TB) string { return fixtures.GPTQ("tiny-4bit-128g-actorder") }},
}

// contextCap keeps the fixture's 2048 positions small for the tests.
const contextCap = 128

// open loads dir on a fresh CPU backend, paged when p is set.
func open(t testing.TB, dir string, p *llama.Paged) *llama.Model {
	t.Helper()
	m, err := llama.Open(context.Background(), dir, cpu.New(), llama.Options{Context: contextCap, Paged: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newScheduler(t testing.TB, m *llama.Model, opt Options) *Scheduler {
	t.Helper()
	cfg := m.Config()
	s, err := New(m, idTok{bos: cfg.BOS, eos: cfg.EOS}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// prompts returns n prompts of different lengths, every third sharing a long
// prefix with the others of its kind.
func prompts(n, vocab int) [][]int {
	shared := make([]int, 37)
	for i := range shared {
		shared[i] = 3 + (i*11)%(vocab-3)
	}
	var out [][]int
	for i := range n {
		var p []int
		if i%3 == 0 {
			p = slices.Clone(shared[:20+i%17])
		}
		p = append([]int{1}, p...)
		for j := range 1 + (i*7)%23 {
			p = append(p, 3+(i*31+j*17)%(vocab-3))
		}
		out = append(out, p)
	}
	return out
}

type outcome struct {
	ids  []int
	stop engine.StopReason
}

// alone generates each prompt on its own with engine/generate.
func alone(t *testing.T, dir string, ps [][]int, req engine.Request) []outcome {
	t.Helper()
	m := open(t, dir, nil)
	cfg := m.Config()
	g := generate.New(m, idTok{bos: cfg.BOS, eos: cfg.EOS})
	var out []outcome
	for _, p := range ps {
		res, ids, err := g.GenerateIDs(context.Background(), p, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, outcome{ids, res.Stop})
	}
	return out
}

// together generates every prompt concurrently through s.
func together(t *testing.T, s *Scheduler, ps [][]int, req engine.Request) []outcome {
	t.Helper()
	out := make([]outcome, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			res, ids, err := s.GenerateIDs(context.Background(), p, req, nil)
			out[i], errs[i] = outcome{ids, res.Stop}, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sequence %d: %v", i, err)
		}
	}
	return out
}

func compare(t *testing.T, what string, got, want []outcome) {
	t.Helper()
	for i := range want {
		if !slices.Equal(got[i].ids, want[i].ids) || got[i].stop != want[i].stop {
			t.Errorf("%s: sequence %d: %v (%s), alone %v (%s)", what, i, got[i].ids, got[i].stop, want[i].ids, want[i].stop)
		}
	}
}

// TestConcurrentGreedyMatchesAlone: N concurrent greedy generations (prompts of
// different lengths, some sharing prefixes) give exactly the ids each gives alone
// through engine/generate, with prompts prefilled in chunks between decodes.
func TestConcurrentGreedyMatchesAlone(t *testing.T) {
	req := engine.Request{MaxTokens: 14}
	for _, ck := range checkpoints {
		t.Run(ck.name, func(t *testing.T) {
			dir := ck.dir(t)
			m := open(t, dir, &llama.Paged{BlockSize: 8, Sequences: 16})
			ps := prompts(16, m.VocabSize())
			want := alone(t, dir, ps, req)
			s := newScheduler(t, m, Options{StepTokens: 24})
			for _, n := range []int{1, 2, 4, 9, 16} {
				compare(t, fmt.Sprintf("%d at once", n), together(t, s, ps[:n], req), want[:n])
			}
			st := s.Stats()
			if st.PrefixHits == 0 || st.TokensSaved == 0 {
				t.Errorf("stats %+v: no prefix-cache hit for prompts sharing a prefix, and the same prompts again", st)
			}
			if st.BlocksUsed != 0 || st.Running != 0 || st.Waiting != 0 {
				t.Errorf("stats %+v: blocks or sequences left over after every call returned", st)
			}
		})
	}
}

// TestPreemptionRecomputes: a pool of one context for 12 sequences forces
// preemption; the recomputed sequences still give the ids they give alone,
// greedy or sampled with a seed.
func TestPreemptionRecomputes(t *testing.T) {
	ck := checkpoints[0]
	dir := ck.dir(t)
	for _, req := range []engine.Request{
		{MaxTokens: 30},
		{MaxTokens: 30, Sampling: engine.Sampling{Temperature: 0.8, TopK: 30, Seed: 99}},
	} {
		m := open(t, dir, &llama.Paged{BlockSize: 4, Blocks: contextCap / 4})
		ps := prompts(12, m.VocabSize())
		want := alone(t, dir, ps, req)
		s := newScheduler(t, m, Options{MaxSequences: 12})
		compare(t, fmt.Sprintf("tiny pool, %+v", req.Sampling), together(t, s, ps, req), want)
		st := s.Stats()
		if st.Preemptions == 0 {
			t.Errorf("stats %+v: no preemption with a pool of %d blocks", st, contextCap/4)
		}
		var gen int64
		for _, w := range want {
			gen += int64(len(w.ids))
		}
		if st.GeneratedTokens != gen {
			t.Errorf("stats: %d tokens generated, the calls got %d", st.GeneratedTokens, gen)
		}
	}
}

// TestPrefixHitSameLogits: a sequence whose prompt starts from another's cached
// blocks gets the very logits it gets computing everything itself. Blocks of 3
// positions put the rows it computes at other offsets in the batch than the miss.
func TestPrefixHitSameLogits(t *testing.T) {
	const bs = 3
	for _, ck := range checkpoints {
		t.Run(ck.name, func(t *testing.T) {
			m := open(t, ck.dir(t), &llama.Paged{BlockSize: bs, Blocks: 3 * (contextCap + bs - 1) / bs})
			ctx := context.Background()
			p := prompts(1, m.VocabSize())[0]
			p = append(p, p...) // long enough for several blocks
			step := func(table []int32, from int) []float32 {
				b := engine.Batch{Tables: [][]int32{table}}
				for i := from; i < len(p); i++ {
					b.IDs, b.Pos, b.Seq = append(b.IDs, int32(p[i])), append(b.Pos, int32(i)), append(b.Seq, 0)
				}
				logits, err := m.ForwardBatch(ctx, b, []int{len(b.IDs) - 1})
				if err != nil {
					t.Fatal(err)
				}
				return logits
			}
			blocks := (len(p) + bs - 1) / bs
			table := func(first int) []int32 {
				var tab []int32
				for i := range blocks {
					tab = append(tab, int32(first+i))
				}
				return tab
			}
			miss := step(table(0), 0)
			// The hit shares the first blocks of the miss's table, computes the rest
			// in blocks of its own.
			hits := (len(p) - 1) / bs
			hitTable := append(table(0)[:hits:hits], table(blocks)[hits:]...)
			hit := step(hitTable, hits*bs)
			if !slices.Equal(hit, miss) {
				t.Errorf("logits after a prefix hit of %d blocks differ from a miss", hits)
			}
			// A dense model computing the prompt in one Forward agrees too.
			d := open(t, ck.dir(t), nil)
			dense, err := d.Forward(ctx, p, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dense, miss) {
				t.Errorf("paged logits differ from the one-sequence cache's")
			}
		})
	}
}

// TestSamplingAndStopsMatchAlone: seeded sampling and stop strings give the same
// text and ids concurrently as alone.
func TestSamplingAndStopsMatchAlone(t *testing.T) {
	dir := checkpoints[1].dir(t)
	m := open(t, dir, &llama.Paged{Sequences: 8})
	s := newScheduler(t, m, Options{})
	d := open(t, dir, nil)
	g := generate.New(d, idTok{bos: 1, eos: 2})
	reqs := []engine.Request{
		{Prompt: "the quick brown fox", MaxTokens: 20, Sampling: engine.Sampling{Temperature: 0.9, TopK: 20, Seed: 7}},
		{Prompt: "jumps over", MaxTokens: 25, Sampling: engine.Sampling{Temperature: 1.2, TopP: 0.9, RepetitionPenalty: 1.1, Seed: 3}},
		{Prompt: "the lazy dog", MaxTokens: 30, Stop: []string{"e", "q"}},
		{Prompt: "again and again", MaxTokens: 12},
	}
	type text struct {
		res engine.Result
		err error
	}
	want := make([]text, len(reqs))
	for i, r := range reqs {
		want[i].res, want[i].err = g.Generate(context.Background(), r, nil)
	}
	got := make([]text, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { got[i].res, got[i].err = s.Generate(context.Background(), r, nil) })
	}
	wg.Wait()
	for i := range reqs {
		w, g := want[i], got[i]
		if g.err != nil || w.err != nil || g.res.Text != w.res.Text || g.res.Stop != w.res.Stop || g.res.Tokens != w.res.Tokens {
			t.Errorf("request %d: %q %s %d (%v), alone %q %s %d (%v)", i, g.res.Text, g.res.Stop, g.res.Tokens, g.err, w.res.Text, w.res.Stop, w.res.Tokens, w.err)
		}
	}
	if n, _ := s.CountTokens("abc"); n != 4 || s.ContextLength() != contextCap {
		t.Errorf("CountTokens(abc) = %d, ContextLength = %d; want 4, %d", n, s.ContextLength(), contextCap)
	}
}
