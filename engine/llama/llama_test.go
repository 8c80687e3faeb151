package llama

import (
	fixturesdir "github.com/rewoo-agent/agent/internal/fixtures"

	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

func fixtures() string { return fixturesdir.Dir() }

type reference struct {
	ids    []int
	logits []float32
	greedy []int
	gaps   []float32
}

func readReference(t *testing.T, dir string) reference {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	get := func(name string, dt safetensors.DType) []byte {
		tn, err := f.Tensor(name)
		if err != nil || tn.DType != dt {
			t.Fatalf("%s: %v (%s)", name, err, tn.DType)
		}
		return tn.Data
	}
	ints := func(b []byte) []int {
		out := make([]int, len(b)/4)
		for i := range out {
			out[i] = int(int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24))
		}
		return out
	}
	floats := func(b []byte) []float32 {
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		return out
	}
	return reference{
		ids: ints(get("input_ids", safetensors.I32)), logits: floats(get("logits", safetensors.F32)),
		greedy: ints(get("greedy_ids", safetensors.I32)), gaps: floats(get("greedy_gaps", safetensors.F32)),
	}
}

// relErr is max|a-b| / max|b|.
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		num = max(num, math.Abs(float64(a[i]-b[i])))
		den = max(den, math.Abs(float64(b[i])))
	}
	return num / den
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestFixtures runs the CPU backend on AutoGPTQ checkpoints and compares with the
// logits and greedy continuation transformers computed.
func TestFixtures(t *testing.T) {
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		for _, batch := range []int{256, 5} {
			t.Run(fmt.Sprintf("%s/batch%d", name, batch), func(t *testing.T) {
				dir := filepath.Join(fixtures(), "gptq", name)
				ref := readReference(t, dir)
				ctx := context.Background()
				m, err := Open(ctx, dir, cpu.New(), Options{MaxBatch: batch})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				vocab := m.VocabSize()
				logits, err := m.Forward(ctx, ref.ids, 0, len(ref.ids))
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(logits, ref.logits); e > 1e-4 {
					t.Errorf("logits relative error %.3g", e)
				} else {
					t.Logf("logits relative error %.3g", e)
				}
				// Greedy decoding, one token at a time through the cache, up to the
				// first step whose top-2 gap is too small to call.
				ids := append([]int(nil), ref.ids...)
				next := argmax(logits[(len(ids)-1)*vocab:])
				for i, want := range ref.greedy {
					if ref.gaps[i] < 0.01 {
						t.Logf("stopping at step %d: gap %.4f", i, ref.gaps[i])
						break
					}
					if next != want {
						t.Fatalf("greedy step %d: %d, want %d", i, next, want)
					}
					ids = append(ids, next)
					l, err := m.Forward(ctx, ids[len(ids)-1:], len(ids)-1, 1)
					if err != nil {
						t.Fatal(err)
					}
					next = argmax(l)
				}
			})
		}
	}
}

// TestRandomGQA runs a grouped-query, 3-bit, 32g act-order checkpoint packed by
// gptqtest.WriteRandom: a whole prompt in one step, in chunks, and token by token (with
// a rewind) must give the same logits.
func TestRandomGQA(t *testing.T) {
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 128, Intermediate: 256, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 96,
		Context: 64, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	spec := gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 3, GroupSize: 32, DescAct: true, Format: "gptq"}, Seed: 4}
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []int{1, 5, 9, 33, 7, 95, 12, 40, 3, 3}
	run := func(batch int, feed func(m *Model) []float32) []float32 {
		var calls, total int64
		m, err := Open(ctx, dir, cpu.New(), Options{MaxBatch: batch, Progress: func(done, all int64) { calls, total = calls+1, done }})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if calls != int64(2+cfg.Layers*9+1) || total == 0 {
			t.Errorf("progress called %d times, %d bytes", calls, total)
		}
		return feed(m)
	}
	whole := run(64, func(m *Model) []float32 {
		l, err := m.Forward(ctx, ids, 0, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
	chunked := run(3, func(m *Model) []float32 {
		l, err := m.Forward(ctx, ids, 0, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
	stepwise := run(64, func(m *Model) []float32 {
		// Feed a wrong token at position 4 first, then rewind over it.
		if _, err := m.Forward(ctx, append(append([]int{}, ids[:4]...), 50, 51), 0, 1); err != nil {
			t.Fatal(err)
		}
		var out []float32
		l, err := m.Forward(ctx, ids[:4], 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l...)
		for i := 4; i < len(ids); i++ {
			l, err := m.Forward(ctx, ids[i:i+1], i, 1)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		return out
	})
	if e := relErr(chunked, whole); e > 1e-5 {
		t.Errorf("chunked vs whole: %.3g", e)
	}
	if e := relErr(stepwise, whole); e > 1e-5 {
		t.Errorf("token by token vs whole: %.3g", e)
	}
	if argmax(whole) == argmax(whole[len(whole)-cfg.Vocab:]) && relErr(whole[:cfg.Vocab], whole[cfg.Vocab:2*cfg.Vocab]) < 1e-3 {
		t.Error("logits do not depend on the input")
	}
}

func TestForwardErrors(t *testing.T) {
	ctx := context.Background()
	m, err := Open(ctx, filepath.Join(fixtures(), "gptq", "tiny-4bit-128g-actorder"), cpu.New(), Options{Context: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases := []struct {
		name        string
		ids         []int
		start, last int
		want        string
	}{
		{"too long", make([]int, 9), 0, 1, "context length"},
		{"gap", []int{1}, 3, 1, "start 3, but 0 positions are cached"},
		{"bad id", []int{1, 5000}, 0, 1, "id 5000 at 1 outside"},
		{"bad last", []int{1}, 0, 2, "last 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(ctx, c.ids, c.start, c.last)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	if m.ContextLength() != 8 {
		t.Errorf("context %d", m.ContextLength())
	}
}

// greedyCPU is the CPU backend with a fake device sampler: argmax of the row it is
// pointed at, read back through the backend.
type greedyCPU struct {
	*cpu.Backend
	vocab int
}

func (g greedyCPU) Sample(ctx context.Context, logits engine.Tensor, row int, s engine.Sampling, history []int32, u float64) (int, error) {
	l := make([]float32, g.vocab)
	if err := g.Read(ctx, l, logits, row, 1); err != nil {
		return 0, err
	}
	return argmax(l), nil
}

func TestForwardSample(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(fixtures(), "gptq", "tiny-4bit-128g-actorder")
	ref := readReference(t, dir)
	m, err := Open(ctx, dir, greedyCPU{cpu.New(), 1024}, Options{MaxBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.SamplesOnDevice() {
		t.Fatal("no device sampler seen")
	}
	id, err := m.ForwardSample(ctx, ref.ids, 0, engine.Sampling{}, nil, 0)
	if err != nil || id != ref.greedy[0] {
		t.Fatalf("sampled %d (%v), want %d", id, err, ref.greedy[0])
	}
	id, err = m.ForwardSample(ctx, []int{id}, len(ref.ids), engine.Sampling{}, nil, 0)
	if err != nil || id != ref.greedy[1] {
		t.Fatalf("second token %d (%v), want %d", id, err, ref.greedy[1])
	}
}

// rowsCPU adds a fake batch device sampler to greedyCPU: each row's argmax.
type rowsCPU struct{ greedyCPU }

func (r rowsCPU) SampleRows(ctx context.Context, logits engine.Tensor, rows []engine.RowSample) ([]int, error) {
	ids := make([]int, len(rows))
	for i, p := range rows {
		var err error
		if ids[i], err = r.Sample(ctx, logits, p.Row, p.Sampling, p.History, p.U); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// TestForwardSampleRows: the rows' ids are the argmax of Forward's rows, also
// when ids are longer than MaxBatch (the last MaxBatch fed as the last chunk);
// rows before those, and a backend without the sampler, are refused.
func TestForwardSampleRows(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(fixtures(), "gptq", "tiny-4bit-128g-actorder")
	ref := readReference(t, dir)
	m, err := Open(ctx, dir, rowsCPU{greedyCPU{cpu.New(), 1024}}, Options{MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.SamplesRowsOnDevice() {
		t.Fatal("no batch device sampler seen")
	}
	n := len(ref.ids)
	if n < 10 {
		t.Fatalf("reference prompt of %d ids, want 10 or more", n)
	}
	logits, err := m.Forward(ctx, ref.ids, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []int{0, n - 4, n - 3} { // 9+ ids in three chunks, one, a part of one
		rows := []engine.RowSample{{Row: n - start - 1}, {Row: n - start - 3}, {Row: n - start - 2}}
		ids, err := m.ForwardSampleRows(ctx, ref.ids[start:], start, rows)
		if err != nil {
			t.Fatalf("from %d: %v", start, err)
		}
		for i, r := range rows {
			row := r.Row + start - (n - 4) // its row among Forward's last 4
			if want := argmax(logits[row*1024 : (row+1)*1024]); ids[i] != want {
				t.Errorf("from %d, row %d: id %d, want %d", start, r.Row, ids[i], want)
			}
		}
	}
	if _, err := m.ForwardSampleRows(ctx, ref.ids, 0, []engine.RowSample{{Row: n - 5}}); err == nil || !strings.Contains(err.Error(), "sampling row") {
		t.Errorf("a row before the last chunk: %v", err)
	}
	plain, err := Open(ctx, dir, cpu.New(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.SamplesRowsOnDevice() {
		t.Error("the CPU backend reports a batch device sampler")
	}
	if _, err := plain.ForwardSampleRows(ctx, ref.ids, 0, []engine.RowSample{{Row: 0}}); err == nil {
		t.Error("ForwardSampleRows without a batch device sampler")
	}
}

// untouched is a backend that fails the test if a load gets as far as using it.
type untouched struct {
	engine.Backend
	t *testing.T
}

func (u untouched) Name() string { return "untouched" }

func (u untouched) Reserve(context.Context, engine.Shape) error {
	u.t.Error("Reserve called for a checkpoint that should have been refused")
	return errors.New("refused")
}

// TestOpenRefusesNonFinite: a checkpoint with a NaN in one layer's scales is refused
// by Open, naming the file and the tensor, before the backend is asked for anything.
func TestOpenRefusesNonFinite(t *testing.T) {
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 2, Heads: 2, KVHeads: 2, Vocab: 64,
		Context: 32, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 32}, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	const bad = "model.layers.1.mlp.down_proj.scales"
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		tn.Data = append([]byte(nil), tn.Data...)
		if n == bad {
			tn.Data[7] = 0x7e // element 3: NaN
		}
		ts = append(ts, tn)
	}
	f.Close()
	if err := safetensors.WriteFile(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), dir, untouched{t: t}, Options{})
	want := fmt.Sprintf("%s: bad checkpoint: tensor %q has NaN at row 0, column 3", path, bad)
	if err == nil || err.Error() != want || !errors.Is(err, gptq.ErrCheckpoint) {
		t.Fatalf("Open: %v, want %q", err, want)
	}
}

// lastRowCPU is rowsCPU whose Ops offer engine.LastRowOps, counting the output
// layers run on the last row alone and on every row (MatMulLast delegates to MatMul,
// so the logits stay the CPU backend's).
type lastRowCPU struct {
	rowsCPU
	last, all *int
}

func (b lastRowCPU) Run(ctx context.Context, ids []int32, start int, step func(engine.Ops)) error {
	return b.rowsCPU.Run(ctx, ids, start, func(o engine.Ops) { step(lastRowOps{o, b}) })
}

type lastRowOps struct {
	engine.Ops
	b lastRowCPU
}

func (o lastRowOps) MatMulLast(dst, x, w engine.Tensor) {
	*o.b.last++
	o.Ops.MatMul(dst, x, w)
}

func (o lastRowOps) MatMul(dst, x, w engine.Tensor) {
	if rows, cols := w.Dims(); rows == 1024 && cols == 256 { // the fixture's output layer: [vocab, hidden]
		*o.b.all++
	}
	o.Ops.MatMul(dst, x, w)
}

// TestLastRowHead: Forward of the last id's logits and ForwardSample run the output
// layer on the last row alone in every chunk (engine.LastRowOps), Forward of more
// rows and ForwardSampleRows' last chunk on every row, with the logits unchanged.
func TestLastRowHead(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(fixtures(), "gptq", "tiny-4bit-128g-actorder")
	ref := readReference(t, dir)
	var last, all int
	m, err := Open(ctx, dir, lastRowCPU{rowsCPU{greedyCPU{cpu.New(), 1024}}, &last, &all}, Options{MaxBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n, vocab := len(ref.ids), 1024
	chunks := (n + 6) / 7
	check := func(what string, gotLast, gotAll, wantLast, wantAll int) {
		t.Helper()
		if gotLast != wantLast || gotAll != wantAll {
			t.Errorf("%s: output layer on the last row %d times and on every row %d, want %d and %d", what, gotLast, gotAll, wantLast, wantAll)
		}
		last, all = 0, 0
	}
	logits, err := m.Forward(ctx, ref.ids, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	check("Forward(last 1)", last, all, chunks, 0)
	if d := relErr(logits, ref.logits[(n-1)*vocab:]); d > 1e-4 {
		t.Errorf("last row's logits off by %g", d)
	}
	if _, err := m.Forward(ctx, ref.ids, 0, 3); err != nil {
		t.Fatal(err)
	}
	check("Forward(last 3)", last, all, 0, chunks)
	if _, err := m.ForwardSample(ctx, ref.ids, 0, engine.Sampling{}, nil, 0); err != nil {
		t.Fatal(err)
	}
	check("ForwardSample", last, all, chunks, 0)
	got, err := m.ForwardSampleRows(ctx, ref.ids, 0, []engine.RowSample{{Row: n - 3}, {Row: n - 1}})
	if err != nil {
		t.Fatal(err)
	}
	check("ForwardSampleRows", last, all, chunks-1, 1) // the rows sampled are in the last chunk
	if want := argmax(ref.logits[(n-3)*vocab : (n-2)*vocab]); got[0] != want {
		t.Errorf("ForwardSampleRows: row %d sampled %d, want %d", n-3, got[0], want)
	}
}
