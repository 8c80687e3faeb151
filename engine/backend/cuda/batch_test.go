//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/llama"
)

// idTok is a tokenizer for ids-only prompts; every id decodes to one letter.
type idTok struct{ bos, eos int }

func (t idTok) Encode(s string) []int { return nil }
func (t idTok) BOS() int              { return t.bos }
func (t idTok) EOS() int              { return t.eos }
func (t idTok) NewStream() idStream   { return idStream{} }

type idStream struct{}

func (idStream) Next(id int) string { return string(rune('a' + id%26)) }
func (idStream) Flush() string      { return "" }

// batchContext is the context of the batch tests' models.
const batchContext = 256

// batchCheckpoint writes a random checkpoint of GPU-friendly shapes (head dim 64,
// sizes in multiples of 32), or returns the repository's fixture for fixture.
func batchCheckpoint(t *testing.T, q gptq.Quantization, kvHeads int) string {
	t.Helper()
	if q.Bits == 0 {
		return filepath.Join(fixtures(t), "gptq", "tiny-4bit-128g-actorder")
	}
	cfg := gptq.Config{Hidden: 256, Intermediate: 512, Layers: 2, Heads: 4, KVHeads: kvHeads, Vocab: 256,
		Context: batchContext, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	dir := t.TempDir()
	q.Format, q.BaseName = "gptq", "model"
	if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: q, Seed: uint64(q.Bits*100 + q.GroupSize + kvHeads)}); err != nil {
		t.Fatal(err)
	}
	return dir
}

var batchQuants = []struct {
	name    string
	q       gptq.Quantization
	kvHeads int
}{
	{"fixture-4bit-128g-actorder", gptq.Quantization{}, 0},
	{"gqa-3bit-32g-actorder", gptq.Quantization{Bits: 3, GroupSize: 32, DescAct: true}, 2},
	{"mha-4bit-nogroup", gptq.Quantization{Bits: 4, GroupSize: -1}, 4},
	{"gqa-2bit-64g", gptq.Quantization{Bits: 2, GroupSize: 64}, 1},
	{"mha-8bit-128g-actorder", gptq.Quantization{Bits: 8, GroupSize: 128, DescAct: true}, 4},
}

// openCUDA loads dir on GPU 0, paged when p is set.
func openCUDA(t *testing.T, dir string, p *llama.Paged) *llama.Model {
	t.Helper()
	b, err := Open(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(ctx, dir, b, llama.Options{Context: batchContext, Paged: p})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// batchPrompts returns n prompts of different lengths (up to ~90), every third
// sharing a long prefix with the others of its kind.
func batchPrompts(n, vocab int) [][]int {
	shared := make([]int, 60)
	for i := range shared {
		shared[i] = 3 + (i*11)%(vocab-3)
	}
	var out [][]int
	for i := range n {
		p := []int{1}
		if i%3 == 0 {
			p = append(p, shared[:33+i%27]...)
		}
		for j := range 1 + (i*7)%29 {
			p = append(p, 3+(i*31+j*17)%(vocab-3))
		}
		out = append(out, p)
	}
	return out
}

// solo is one prompt's greedy continuation alone, on the one-sequence cache: the ids
// (not stopping at EOS) and at each step whether the top two logits were a near-tie
// (closer than 1e-3 of the top logit's magnitude).
type solo struct {
	ids  []int
	ties []bool
}

func greedySolo(t *testing.T, m *llama.Model, prompt []int, n int) solo {
	t.Helper()
	logits, err := m.Forward(ctx, prompt, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var s solo
	for i := range n {
		best, second := 0, -1
		for j, l := range logits {
			if l > logits[best] {
				best, second = j, best
			} else if j != best && (second < 0 || l > logits[second]) {
				second = j
			}
		}
		gap := float64(logits[best] - logits[second])
		s.ids = append(s.ids, best)
		s.ties = append(s.ties, gap < 1e-3*math.Abs(float64(logits[best])))
		if i+1 < n {
			if logits, err = m.Forward(ctx, []int{best}, len(prompt)+i, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// matchSolo checks a batched greedy generation against the same prompt alone: equal
// ids up to a near-tie of the solo run (from there on anything goes), ending early
// only at EOS.
func matchSolo(t *testing.T, what string, got []int, want solo, eos int) {
	t.Helper()
	for i, id := range got {
		if i >= len(want.ids) {
			t.Errorf("%s: %d ids, asked for %d", what, len(got), len(want.ids))
			return
		}
		if id != want.ids[i] {
			if !want.ties[i] {
				t.Errorf("%s: step %d: %d, alone %d (no near-tie); got %v, alone %v", what, i, id, want.ids[i], got, want.ids)
			}
			return
		}
	}
	if len(got) < len(want.ids) && (len(got) == 0 || got[len(got)-1] != eos) && want.ids[len(got)] != eos {
		t.Errorf("%s: stopped after %d of %d ids without EOS; got %v, alone %v", what, len(got), len(want.ids), got, want.ids)
	}
}

func concurrently(t *testing.T, s *batch.Scheduler, ps [][]int, req engine.Request) [][]int {
	t.Helper()
	out, errs := make([][]int, len(ps)), make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { _, out[i], errs[i] = s.GenerateIDs(ctx, p, req, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sequence %d: %v", i, err)
		}
	}
	return out
}

func newBatchScheduler(t *testing.T, m *llama.Model, opt batch.Options) *batch.Scheduler {
	t.Helper()
	cfg := m.Config()
	s, err := batch.New(m, idTok{bos: cfg.BOS, eos: cfg.EOS}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBatchGreedyMatchesAlone: N = 1..16 concurrent greedy generations through
// engine/batch on the GPU (prompts of different lengths, some sharing prefixes,
// prefilled in chunks between decodes) give the ids each gives alone on the
// one-sequence cache, up to near-ties, for every bit width.
func TestBatchGreedyMatchesAlone(t *testing.T) {
	const n = 12
	for _, c := range batchQuants {
		t.Run(c.name, func(t *testing.T) {
			dir := batchCheckpoint(t, c.q, c.kvHeads)
			ref := openCUDA(t, dir, nil)
			ps := batchPrompts(16, ref.VocabSize())
			want := make([]solo, len(ps))
			for i, p := range ps {
				want[i] = greedySolo(t, ref, p, n)
			}
			m := openCUDA(t, dir, &llama.Paged{BlockSize: 16, Sequences: 16})
			if !m.SamplesBatchOnDevice() {
				t.Fatal("the paged model on CUDA does not sample rows on the device")
			}
			s := newBatchScheduler(t, m, batch.Options{StepTokens: 40})
			for _, k := range []int{1, 2, 4, 9, 16} {
				got := concurrently(t, s, ps[:k], engine.Request{MaxTokens: n})
				for i := range got {
					matchSolo(t, fmt.Sprintf("%d at once, sequence %d", k, i), got[i], want[i], m.Config().EOS)
				}
			}
			if st := s.Stats(); st.PrefixHits == 0 || st.BlocksUsed != 0 || st.Running != 0 {
				t.Errorf("stats %+v: want prefix hits, and no blocks or sequences left over", st)
			}
		})
	}
}

// TestBatchSampledOnDevice: the scheduler's rows sampled on the device (sample_rows,
// through llama's ForwardBatchSampled) give the ids of the host path (the same
// checkpoint on a second model, hidden behind batch.Model so every row's logits come
// back and engine/sample picks), greedy and seeded with temperature, top-k, top-p and
// a repetition penalty. The calls run one at a time, so both paths see the same
// steps and the same logits; only float rounding of the draw (float32 on the device,
// float64 on the host) could part them, at a draw within ~1e-6 of a boundary
// between candidates: top-k keeps those few (without it a flat distribution over
// the whole vocabulary would put one near many draws; TestSample and TestSampleRows
// check that case with a margin). Then
// one step of ForwardBatchSampled against ForwardBatch: the wanted row's logits
// exactly, the picked row's argmax.
func TestBatchSampledOnDevice(t *testing.T) {
	c := batchQuants[1]
	dir := batchCheckpoint(t, c.q, c.kvHeads)
	dev := openCUDA(t, dir, &llama.Paged{BlockSize: 16, Sequences: 4})
	if !dev.SamplesBatchOnDevice() {
		t.Fatal("the paged model on CUDA does not sample rows on the device")
	}
	ds := newBatchScheduler(t, dev, batch.Options{StepTokens: 40})
	host := openCUDA(t, dir, &llama.Paged{BlockSize: 16, Sequences: 4})
	cfg := host.Config()
	hs, err := batch.New(struct{ batch.Model }{host}, idTok{bos: cfg.BOS, eos: cfg.EOS}, batch.Options{StepTokens: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	ps := batchPrompts(6, dev.VocabSize())
	// Both schedulers get the same calls in the same order, so the same prefix
	// hits and steps; the greedy ids come from the first, greedy, round.
	greedy, differ := make([][]int, len(ps)), 0
	for _, smp := range []engine.Sampling{
		{},
		{RepetitionPenalty: 1.3},
		{Temperature: 0.9, TopK: 10, Seed: 1},
		{Temperature: 1.2, TopK: 20, Seed: 2},
		{Temperature: 0.8, TopK: 20, TopP: 0.9, RepetitionPenalty: 1.2, Seed: 3},
	} {
		for i, p := range ps {
			req := engine.Request{MaxTokens: 16, Sampling: smp}
			req.Sampling.Seed += uint64(i)
			_, got, err := ds.GenerateIDs(ctx, p, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := hs.GenerateIDs(ctx, p, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%+v, sequence %d: device path %v, host path %v", smp, i, got, want)
			}
			if smp == (engine.Sampling{}) {
				greedy[i] = want
			} else if smp.Temperature != 0 && !slices.Equal(greedy[i], want) {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Error("every sampled sequence gave its greedy ids: nothing was drawn")
	}

	p := ps[1]
	step := engine.Batch{Tables: [][]int32{{0, 1, 2, 3, 4, 5, 6, 7}}}
	for i, id := range p {
		step.IDs, step.Pos, step.Seq = append(step.IDs, int32(id)), append(step.Pos, int32(i)), append(step.Seq, 0)
	}
	last, mid := len(p)-1, len(p)/2
	all, err := dev.ForwardBatch(ctx, step, []int{mid, last})
	if err != nil {
		t.Fatal(err)
	}
	logits, ids, err := dev.ForwardBatchSampled(ctx, step, []int{mid}, []engine.RowSample{{Row: last}})
	if err != nil {
		t.Fatal(err)
	}
	v := dev.VocabSize()
	if !slices.Equal(logits, all[:v]) {
		t.Error("ForwardBatchSampled's wanted row differs from ForwardBatch's")
	}
	row := all[v:]
	best := 0
	for i, x := range row {
		if x > row[best] {
			best = i
		}
	}
	if len(ids) != 1 || ids[0] != best {
		t.Errorf("ForwardBatchSampled picked %v, the row's argmax is %d", ids, best)
	}
}

// TestBatchPreemption: a pool of one context for 12 sequences forces preemption on
// the GPU; the recomputed sequences still give the ids they give alone.
func TestBatchPreemption(t *testing.T) {
	c := batchQuants[1]
	dir := batchCheckpoint(t, c.q, c.kvHeads)
	ref := openCUDA(t, dir, nil)
	ps := batchPrompts(12, ref.VocabSize())
	const n = 40
	m := openCUDA(t, dir, &llama.Paged{BlockSize: 8, Blocks: batchContext / 8})
	s := newBatchScheduler(t, m, batch.Options{MaxSequences: 12})
	got := concurrently(t, s, ps, engine.Request{MaxTokens: n})
	for i, p := range ps {
		matchSolo(t, fmt.Sprintf("sequence %d", i), got[i], greedySolo(t, ref, p, n), m.Config().EOS)
	}
	if st := s.Stats(); st.Preemptions == 0 {
		t.Errorf("stats %+v: no preemption with a pool of one context", st)
	}
}

// TestBatchPrefixHitLogits: on the GPU, a sequence whose prompt starts from another's
// cached blocks gets the logits it gets computing everything itself, and those of
// the one-sequence cache, within float16 rounding.
func TestBatchPrefixHitLogits(t *testing.T) {
	const bs = 16
	for _, c := range batchQuants {
		t.Run(c.name, func(t *testing.T) {
			dir := batchCheckpoint(t, c.q, c.kvHeads)
			m := openCUDA(t, dir, &llama.Paged{BlockSize: bs, Blocks: 3 * batchContext / bs})
			p := batchPrompts(1, m.VocabSize())[0]
			p = append(p, p[1:]...)
			blocks := ceil(len(p), bs)
			table := func(first int) []int32 {
				var tab []int32
				for i := range blocks {
					tab = append(tab, int32(first+i))
				}
				return tab
			}
			step := func(tab []int32, from int) []float32 {
				b := engine.Batch{Tables: [][]int32{tab}}
				for i := from; i < len(p); i++ {
					b.IDs, b.Pos, b.Seq = append(b.IDs, int32(p[i])), append(b.Pos, int32(i)), append(b.Seq, 0)
				}
				logits, err := m.ForwardBatch(ctx, b, []int{len(b.IDs) - 1})
				if err != nil {
					t.Fatal(err)
				}
				return logits
			}
			miss := step(table(0), 0)
			hits := (len(p) - 1) / bs
			hit := step(append(table(0)[:hits:hits], table(blocks)[hits:]...), hits*bs)
			expectClose(t, fmt.Sprintf("logits after a prefix hit of %d blocks", hits), hit, toF64(miss), 2e-3)
			d := openCUDA(t, dir, nil)
			dense, err := d.Forward(ctx, p, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, "paged logits against the one-sequence cache's", miss, toF64(dense), 2e-3)
		})
	}
}

// TestPagedAttentionLong checks attention_paged against a float64 reference at
// lengths where the keys are split over many blocks (flash-decoding) and at several
// rows of one sequence per step, with scattered block tables, the steps of one size
// replaying one CUDA graph.
func TestPagedAttentionLong(t *testing.T) {
	r := newRNG(t)
	const heads, kvHeads, hd, bs = 8, 2, 128, 16
	s := engine.Shape{Hidden: heads * hd, Intermediate: 512, Layers: 1, Heads: heads, KVHeads: kvHeads, HeadDim: hd,
		Vocab: 1000, Context: 2048, MaxBatch: 64}
	b := open(t, s)
	const blocks = 2 * 2048 / bs
	c, err := b.NewPagedCache(ctx, kvHeads, hd, blocks, bs)
	if err != nil {
		t.Fatal(err)
	}
	perm := r.Perm(blocks)
	tabs := [][]int32{{}, {}}
	for i, blk := range perm {
		tabs[i%2] = append(tabs[i%2], int32(blk))
	}
	// Fill sequence 0 to 1500 positions and sequence 1 to 700, 64 rows a step, then
	// decode one row of each.
	keys, vals := [2][][]float32{}, [2][][]float32{}
	// q, k, v and the output, the same tensors every step (so that steps repeat)
	qc, kc := heads*hd, kvHeads*hd
	acts := [4]engine.Tensor{act(t, b, s.MaxBatch, qc, nil), act(t, b, s.MaxBatch, kc, nil), act(t, b, s.MaxBatch, kc, nil), act(t, b, s.MaxBatch, qc, nil)}
	for _, lens := range [][2]int{{1500, 700}, {1501, 701}} {
		checkPaged(t, r, b, c, acts, tabs, lens, &keys, &vals)
	}
	// The steps of 64 rows after the second replayed one captured graph, with other
	// positions and tables each time.
	if b.graphs[-64] == nil {
		t.Error("no CUDA graph captured for RunBatch steps of 64 rows")
	}
}

// checkPaged feeds the sequences up to lens positions through RunBatch steps of at
// most MaxBatch rows (q, k, v and the output in acts), checking those that reach
// past position 600 (and the last).
func checkPaged(t *testing.T, r *rand.Rand, b *Backend, c engine.Tensor, acts [4]engine.Tensor, tabs [][]int32, lens [2]int, keys, vals *[2][][]float32) {
	s := b.shape
	heads, kvHeads, hd := s.Heads, s.KVHeads, s.HeadDim
	kc, qc := kvHeads*hd, heads*hd
	for {
		done := true
		var bt engine.Batch
		bt.Tables = tabs
		var kv, vv []float32
		for sq := range 2 {
			for len((*keys)[sq]) < lens[sq] && len(bt.Pos) < s.MaxBatch {
				done = false
				p := len((*keys)[sq])
				k, v := randn(r, kc, 1), randn(r, kc, 1)
				(*keys)[sq], (*vals)[sq] = append((*keys)[sq], roundHalf(k)), append((*vals)[sq], roundHalf(v))
				kv, vv = append(kv, k...), append(vv, v...)
				bt.Pos, bt.Seq, bt.IDs = append(bt.Pos, int32(p)), append(bt.Seq, int32(sq)), append(bt.IDs, 0)
			}
		}
		if done {
			break
		}
		rows := len(bt.Pos)
		qv := randn(r, rows*qc, 1)
		q, k, v, d := acts[0], acts[1], acts[2], acts[3]
		write(t, b, q, qv)
		write(t, b, k, kv)
		write(t, b, v, vv)
		poison(t, b, d)
		if err := b.RunBatch(ctx, bt, func(o engine.Ops) { o.Attention(d, q, k, v, c) }); err != nil {
			t.Fatal(err)
		}
		if slices.Max(bt.Pos) < 600 && len((*keys)[0]) < lens[0] {
			continue // the short steps only fill the cache
		}
		got := read(t, b, d, rows)
		want := make([]float64, rows*qc)
		for i := range rows {
			sq, p := bt.Seq[i], int(bt.Pos[i])
			for h := range heads {
				kvh := h / (heads / kvHeads)
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := range p + 1 {
					var dot float64
					for e := range hd {
						dot += float64(qv[i*qc+h*hd+e]) * float64((*keys)[sq][j][kvh*hd+e])
					}
					sc[j] = dot / math.Sqrt(float64(hd))
					mx = max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for e := range hd {
						want[i*qc+h*hd+e] += sc[j] / sum * float64((*vals)[sq][j][kvh*hd+e])
					}
				}
			}
		}
		expectClose(t, fmt.Sprintf("%d rows up to position %d", rows, slices.Max(bt.Pos)), got, want, 2e-3)
	}
}
