package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/internal/half"
	"github.com/rewoo-agent/agent/engine/llama"
)

// modelConfig is a small LLaMA: two layers, grouped-query heads of 64.
var modelConfig = gptq.Config{Hidden: 256, Intermediate: 512, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 384,
	Context: 96, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}

// testModel writes random checkpoints in several quantizations, then for each, with
// the whole prompt in one step and in chunks of 5, feeds a prompt and decodes
// greedily on the backend: every position's logits must match a float64 LLaMA of
// the same weights, and every greedy token must be the reference's argmax wherever
// the reference's two best logits are further apart than the error allows; on a
// paged backend, the same for two sequences sharing RunBatch steps.
func testModel(t *testing.T, open Open) {
	for _, q := range []gptq.Quantization{
		{Bits: 4, GroupSize: 128, DescAct: true},
		{Bits: 3, GroupSize: -1, DescAct: true},
		{Bits: 2, GroupSize: 32, Sym: true},
		{Bits: 8, GroupSize: 32, DescAct: true, Format: "gptq_v2"},
	} {
		if q.Format == "" {
			q.Format = "gptq"
		}
		t.Run(fmt.Sprintf("%dbit/g%d/actorder=%v", q.Bits, q.GroupSize, q.DescAct), func(t *testing.T) {
			dir := t.TempDir()
			spec := gptqtest.RandomSpec{Config: modelConfig, Quant: q, Seed: uint64(100*q.Bits + q.GroupSize + 1000)}
			if err := gptqtest.WriteRandom(dir, spec); err != nil {
				t.Fatal(err)
			}
			ref := loadReference(t, dir)
			prompt := make([]int, 17)
			for i := range prompt {
				prompt[i] = (i*37 + 11) % modelConfig.Vocab
			}
			for _, maxBatch := range []int{64, 5} {
				t.Run(fmt.Sprintf("batch%d", maxBatch), func(t *testing.T) {
					checkGreedy(t, open(t), dir, maxBatch, prompt, 12, ref)
				})
			}
			t.Run("paged", func(t *testing.T) {
				b := open(t)
				if _, ok := b.(engine.PagedBackend); !ok {
					b.Close()
					t.Skip("backend has no paged cache")
				}
				other := make([]int, 11)
				for i := range other {
					other[i] = (i*53 + 7) % modelConfig.Vocab
				}
				checkPaged(t, b, dir, [2][]int{prompt, other}, 12, ref)
			})
		})
	}
}

func checkGreedy(t *testing.T, b engine.Backend, dir string, maxBatch int, prompt []int, n int, ref *refModel) {
	m, err := llama.Open(ctx, dir, b, llama.Options{MaxBatch: maxBatch})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()
	vocab := m.VocabSize()
	logits, err := m.Forward(ctx, prompt, 0, len(prompt))
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float64, 0, len(prompt)+n)
	addRows := func(v []float32) {
		for i := 0; i < len(v); i += vocab {
			row := make([]float64, vocab)
			for j := range row {
				row[j] = float64(v[i+j])
			}
			got = append(got, row)
		}
	}
	addRows(logits)
	seq := append([]int(nil), prompt...)
	for range n {
		next := argmax(got[len(got)-1])
		seq = append(seq, next)
		if logits, err = m.Forward(ctx, []int{next}, len(seq)-1, 1); err != nil {
			t.Fatal(err)
		}
		addRows(logits)
	}
	checkLogits(t, "", ref, got, seq, len(prompt), n)
}

// checkPaged is checkGreedy through a paged cache (engine.PagedBackend): two
// sequences in scattered blocks, their prompts fed side by side in chunks of up to 5
// rows a step, then decoded greedily together, a row of each per step; every
// position's logits of both must match the reference.
func checkPaged(t *testing.T, b engine.Backend, dir string, prompts [2][]int, n int, ref *refModel) {
	m, err := llama.Open(ctx, dir, b, llama.Options{MaxBatch: 16, Paged: &llama.Paged{BlockSize: 8, Blocks: 30}})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()
	if blocks, _ := m.Paged(); blocks == 0 {
		t.Fatal("the model has no paged cache on a paged backend")
	}
	vocab := m.VocabSize()
	tables := [][]int32{{29, 3, 17, 11}, {5, 22, 0, 14}}
	var seqs [2][]int
	var got [2][][]float64
	var fed [2]int
	for s := range seqs {
		seqs[s] = append([]int(nil), prompts[s]...)
	}
	for {
		bt := engine.Batch{Tables: tables}
		var rowSeq []int
		for s := range seqs {
			for p := fed[s]; p < min(len(seqs[s]), fed[s]+5); p++ {
				bt.IDs, bt.Pos, bt.Seq = append(bt.IDs, int32(seqs[s][p])), append(bt.Pos, int32(p)), append(bt.Seq, int32(s))
				rowSeq = append(rowSeq, s)
			}
		}
		if len(bt.IDs) == 0 {
			break
		}
		want := make([]int, len(bt.IDs))
		for i := range want {
			want[i] = i
		}
		logits, err := m.ForwardBatch(ctx, bt, want)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range rowSeq {
			row := make([]float64, vocab)
			for j := range row {
				row[j] = float64(logits[i*vocab+j])
			}
			got[s] = append(got[s], row)
			fed[s]++
		}
		for s := range seqs {
			if fed[s] == len(seqs[s]) && len(seqs[s]) < len(prompts[s])+n {
				seqs[s] = append(seqs[s], argmax(got[s][len(got[s])-1]))
			}
		}
	}
	for s := range seqs {
		checkLogits(t, fmt.Sprintf("sequence %d, ", s), ref, got[s], seqs[s], len(prompts[s]), n)
	}
}

// checkLogits compares got, the backend's logits at every position of seq (a prompt
// of promptLen ids and n greedy ones), with the reference's.
func checkLogits(t *testing.T, label string, ref *refModel, got [][]float64, seq []int, promptLen, n int) {
	t.Helper()
	want := ref.forward(seq)
	checked := 0
	for p := range got {
		what := fmt.Sprintf("%sposition %d", label, p)
		if p >= promptLen {
			what += " (decode)"
		}
		expectClose(t, what, got[p:p+1], want[p:p+1], 1e-2)
		if p < promptLen-1 {
			continue
		}
		// The token chosen after position p is seq[p+1]: compare it with the
		// reference's choice unless the reference's top two are within twice the
		// largest difference between the backend's logits and the reference's.
		var maxErr float64
		for j := range got[p] {
			maxErr = max(maxErr, math.Abs(got[p][j]-want[p][j]))
		}
		best, second := top2(want[p])
		if want[p][best]-want[p][second] <= 2*maxErr {
			continue
		}
		checked++
		if p+1 < len(seq) && seq[p+1] != best {
			t.Errorf("%sgreedy token after position %d: %d, the reference's is %d (gap %.4f, error %.4f)", label, p, seq[p+1], best, want[p][best]-want[p][second], maxErr)
		}
	}
	if checked < n/2 {
		t.Errorf("%sonly %d of %d greedy tokens were clear enough to check", label, checked, n)
	}
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func top2(v []float64) (best, second int) {
	best, second = 0, 1
	if v[1] > v[0] {
		best, second = 1, 0
	}
	for i := 2; i < len(v); i++ {
		switch {
		case v[i] > v[best]:
			best, second = i, best
		case v[i] > v[second]:
			second = i
		}
	}
	return best, second
}

// refModel is the LLaMA forward pass in float64 on a checkpoint's weights,
// dequantized (Hugging Face's LlamaForCausalLM, written out).
type refModel struct {
	c           gptq.Config
	embed, head [][]float64
	norm        []float64
	layers      []refLayer
}

type refLayer struct {
	attnNorm, mlpNorm []float64
	lin               [gptq.NumLinears][][]float64 // [in][out]
}

func loadReference(t *testing.T, dir string) *refModel {
	t.Helper()
	ck, err := gptq.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	c := ck.Config
	dense := func(name string, rows, cols int) [][]float64 {
		w, err := ck.Dense(name, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, rows*cols)
		half.Decode(v, w.F16)
		return matrix(v, rows, cols)
	}
	m := &refModel{c: c, embed: dense(gptq.EmbedName, c.Vocab, c.Hidden), head: dense(gptq.HeadName, c.Vocab, c.Hidden),
		norm: dense(gptq.NormName, 1, c.Hidden)[0]}
	for i := range c.Layers {
		l := refLayer{attnNorm: dense(gptq.LayerNorm(i, false), 1, c.Hidden)[0], mlpNorm: dense(gptq.LayerNorm(i, true), 1, c.Hidden)[0]}
		for which := range gptq.NumLinears {
			w, err := ck.Linear(c.Linear(i, which))
			if err != nil {
				t.Fatal(err)
			}
			l.lin[which] = matrix(gptqtest.Dequantize(w), w.In, w.Out)
		}
		m.layers = append(m.layers, l)
	}
	return m
}

// matrix is v, rows×cols in row-major order, as rows of float64.
func matrix(v []float32, rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
		for j := range cols {
			out[i][j] = float64(v[i*cols+j])
		}
	}
	return out
}

// forward returns the logits of every position of ids.
func (m *refModel) forward(ids []int) [][]float64 {
	c, hd := m.c, m.c.HeadDim()
	x := make([][]float64, len(ids))
	for i, id := range ids {
		x[i] = append([]float64(nil), m.embed[id]...)
	}
	addTo := func(dst, d [][]float64) {
		for i := range dst {
			for j := range dst[i] {
				dst[i][j] += d[i][j]
			}
		}
	}
	for _, l := range m.layers {
		h := rmsnormRef(x, l.attnNorm, c.NormEps)
		q := ropeRef(matmulRef(h, l.lin[gptq.Q]), 0, hd, c.RopeTheta)
		k := ropeRef(matmulRef(h, l.lin[gptq.K]), 0, hd, c.RopeTheta)
		v := matmulRef(h, l.lin[gptq.V])
		addTo(x, matmulRef(attentionRef(q, k, v, 0, c.Heads, c.KVHeads, hd), l.lin[gptq.O]))
		h = rmsnormRef(x, l.mlpNorm, c.NormEps)
		g, u := matmulRef(h, l.lin[gptq.Gate]), matmulRef(h, l.lin[gptq.Up])
		for i := range g {
			for j, gv := range g[i] {
				g[i][j] = gv / (1 + math.Exp(-gv)) * u[i][j]
			}
		}
		addTo(x, matmulRef(g, l.lin[gptq.Down]))
	}
	return matmulRef(rmsnormRef(x, m.norm, c.NormEps), transpose(m.head))
}
