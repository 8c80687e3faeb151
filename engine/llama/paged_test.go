package llama

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
)

// tinyCheckpoint writes a random 4-bit checkpoint of hidden 64 with layers layers
// and a context of context positions, and returns its folder.
func tinyCheckpoint(t *testing.T, layers, context int) string {
	t.Helper()
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: layers, Heads: 2, KVHeads: 1, Vocab: 64,
		Context: context, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: 4, GroupSize: 32, Format: "gptq"}, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPagedOptions: the pool is sized as configured or from memory and holds at
// least one context; a paged model refuses Forward, a one-sequence model
// ForwardBatch, and bad batches are errors.
func TestPagedOptions(t *testing.T) {
	dir := tinyCheckpoint(t, 1, 40)
	ctx := context.Background()
	load := func(p *Paged) (*Model, error) {
		m, err := Open(ctx, dir, cpu.New(), Options{Paged: p})
		if err == nil {
			t.Cleanup(func() { m.Close() })
		}
		return m, err
	}
	for _, c := range []struct {
		p             Paged
		blocks, bsize int
	}{
		{Paged{Blocks: 7, BlockSize: 8}, 7, 8},
		{Paged{Sequences: 3}, 9, DefaultBlockSize}, // 3 contexts of 3 blocks
		{Paged{Sequences: 2, BlockSize: 5}, 16, 5},
	} {
		m, err := load(&c.p)
		if err != nil {
			t.Fatalf("%+v: %v", c.p, err)
		}
		if b, bs := m.Paged(); b != c.blocks || bs != c.bsize {
			t.Errorf("%+v: %d blocks of %d, want %d of %d", c.p, b, bs, c.blocks, c.bsize)
		}
	}
	if _, err := load(&Paged{Blocks: 2, BlockSize: 8}); !errors.Is(err, engine.ErrNoMemory) {
		t.Errorf("a pool smaller than one context: %v, want ErrNoMemory", err)
	}
	if _, err := load(&Paged{Share: 2}); err == nil {
		t.Error("a share of 2: no error")
	}
	m, err := load(&Paged{Blocks: 5, BlockSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(ctx, []int{1, 2}, 0, 1); err == nil {
		t.Error("Forward on a paged model: no error")
	}
	good := engine.Batch{IDs: []int32{1, 5}, Pos: []int32{0, 1}, Seq: []int32{0, 0}, Tables: [][]int32{{3}}}
	if _, err := m.ForwardBatch(ctx, good, []int{1}); err != nil {
		t.Fatalf("ForwardBatch: %v", err)
	}
	for name, c := range map[string]struct {
		b    engine.Batch
		want []int
	}{
		"an id outside the vocabulary": {engine.Batch{IDs: []int32{64}, Pos: []int32{0}, Seq: []int32{0}, Tables: [][]int32{{3}}}, []int{0}},
		"logits of a missing row":      {good, []int{2}},
		"no rows":                      {engine.Batch{}, nil},
		"a block past the pool":        {engine.Batch{IDs: []int32{1}, Pos: []int32{0}, Seq: []int32{0}, Tables: [][]int32{{5}}}, []int{0}},
	} {
		if _, err := m.ForwardBatch(ctx, c.b, c.want); err == nil {
			t.Errorf("ForwardBatch with %s: no error", name)
		}
	}
	dense, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dense.ForwardBatch(ctx, good, []int{1}); err == nil {
		t.Error("ForwardBatch on a one-sequence model: no error")
	}
}

// sizedBackend is the CPU backend reporting a fixed free memory, its paged
// cache's element size as value bytes and, when share is set, that default share,
// so the pool's sizing can be checked.
type sizedBackend struct {
	*cpu.Backend
	free  int64
	value int
	share float64
}

func (b sizedBackend) KVMemory() (int64, bool) { return b.free, true }
func (b sizedBackend) KVValueBytes() int       { return b.value }
func (b sizedBackend) KVShare() float64 {
	if b.share != 0 {
		return b.share
	}
	return b.Backend.KVShare()
}

// TestPagedPoolElementSize: the pool sized from free memory counts the
// backend's element size, so a float16 cache (CUDA's) gets twice the blocks of
// a float32 one in the same memory.
func TestPagedPoolElementSize(t *testing.T) {
	dir := tinyCheckpoint(t, 2, 40)
	// A block of 16 positions: 2 layers × keys and values × 16 × 32 columns.
	const elems = 2 * 2 * DefaultBlockSize * 32
	for _, c := range []struct{ value, blocks int }{{4, 100}, {2, 200}} {
		b := sizedBackend{Backend: cpu.New(), free: 2 * 100 * elems * 4, value: c.value} // share 0.5: 100 float32 blocks
		m, err := Open(t.Context(), dir, b, Options{Paged: &Paged{}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := m.Paged(); got != c.blocks {
			t.Errorf("%d-byte values: %d blocks, want %d", c.value, got, c.blocks)
		}
		m.Close()
	}
}

// TestPagedPoolShare: without a configured share the pool takes the backend's
// (KVShare: the CPU's half, a device's 0.9), and Paged.Share overrides it.
func TestPagedPoolShare(t *testing.T) {
	dir := tinyCheckpoint(t, 2, 40)
	const blockBytes = 2 * 2 * DefaultBlockSize * 32 * 4 // 2 layers × keys and values × 16 × 32 float32
	for _, c := range []struct {
		backendShare, share float64
		blocks              int
	}{{0, 0, 500}, {0.9, 0, 900}, {0.9, 0.25, 250}, {0, 1, 1000}} {
		b := sizedBackend{Backend: cpu.New(), free: 1000 * blockBytes, value: 4, share: c.backendShare}
		m, err := Open(t.Context(), dir, b, Options{Paged: &Paged{Share: c.share}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := m.Paged(); got != c.blocks {
			t.Errorf("backend share %g, configured %g: %d blocks, want %d", c.backendShare, c.share, got, c.blocks)
		}
		m.Close()
	}
}

// rowsBackend is the CPU backend preferring steps of rows rows (engine.PromptRows).
type rowsBackend struct {
	*cpu.Backend
	rows int
}

func (b rowsBackend) DefaultMaxBatch() int { return b.rows }

// TestPromptRows: a model's MaxBatch is Options.MaxBatch, else the backend's
// engine.PromptRows, else 256, and never past the context.
func TestPromptRows(t *testing.T) {
	dir := tinyCheckpoint(t, 2, 600)
	for _, c := range []struct {
		b        engine.Backend
		maxBatch int
		want     int
	}{{cpu.New(), 0, 256}, {rowsBackend{cpu.New(), 512}, 0, 512}, {rowsBackend{cpu.New(), 512}, 48, 48}, {rowsBackend{cpu.New(), 1024}, 0, 600}} {
		m, err := Open(t.Context(), dir, c.b, Options{MaxBatch: c.maxBatch})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.MaxBatch(); got != c.want {
			t.Errorf("%T, MaxBatch %d: %d rows a step, want %d", c.b, c.maxBatch, got, c.want)
		}
		m.Close()
	}
}

// TestDecodeBytes: a step's floor bytes are every linear's packed weights,
// zeros and scales, the norms, the output layer and one embedding row, plus the
// cache up to the position at the backend's element size, counted here from
// the shapes as AutoGPTQ packs them; Weights is every linear's In·Out and the
// output layer's; the CPU measures no tensor-core rate.
func TestDecodeBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 96,
		Context: 40, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	const bits, group = 4, 32
	if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: gptq.Quantization{Bits: bits, GroupSize: group, Format: "gptq", DescAct: true}, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	var want, weights int64
	for i := range cfg.Layers {
		for which := range gptq.NumLinears {
			_, in, out := cfg.Linear(i, which)
			groups := in / group
			want += int64(in*out*bits/8 + groups*out*bits/8 + groups*out*2)
			weights += int64(in * out)
		}
	}
	weights += int64(cfg.Vocab * cfg.Hidden)
	want += int64((2*cfg.Layers+1)*cfg.Hidden*2 + cfg.Vocab*cfg.Hidden*2 + cfg.Hidden*2)
	m, err := Open(t.Context(), dir, cpu.New(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	kv := int64(cfg.Layers * 2 * cfg.KVHeads * cfg.HeadDim() * 4) // float32 keys and values per position
	for _, pos := range []int{0, 9} {
		if got := m.DecodeBytes(pos); got != want+int64(pos+1)*kv {
			t.Errorf("DecodeBytes(%d) = %d, want %d", pos, got, want+int64(pos+1)*kv)
		}
		if got := m.KVBytes(pos); got != int64(pos+1)*kv {
			t.Errorf("KVBytes(%d) = %d, want %d", pos, got, int64(pos+1)*kv)
		}
	}
	if m.Weights() != weights {
		t.Errorf("Weights() = %d, want %d", m.Weights(), weights)
	}
	if _, _, ok, err := m.TensorRate(t.Context()); ok || err != nil {
		t.Errorf("TensorRate on the CPU: ok %v, %v", ok, err)
	}
	bw, how, ok, err := m.ReadBandwidth(t.Context())
	if !ok || err != nil || bw <= 0 || how == "" {
		t.Errorf("ReadBandwidth: %g %q %v %v", bw, how, ok, err)
	}
}

// argmaxBackend is the CPU backend with a greedy "device" sampler over rows of
// logits (SampleRows reads each row back and takes its first maximum), recording
// its calls.
type argmaxBackend struct {
	*cpu.Backend
	calls [][]engine.RowSample
}

func (b *argmaxBackend) SampleRows(ctx context.Context, logits engine.Tensor, rows []engine.RowSample) ([]int, error) {
	b.calls = append(b.calls, rows)
	_, cols := logits.Dims()
	row := make([]float32, cols)
	var ids []int
	for _, r := range rows {
		if err := b.Read(ctx, row, logits, r.Row, 1); err != nil {
			return nil, err
		}
		best := 0
		for i, x := range row {
			if x > row[best] {
				best = i
			}
		}
		ids = append(ids, best)
	}
	return ids, nil
}

// TestForwardBatchSampled: on a backend that samples rows, one step gives the
// wanted rows' logits as ForwardBatch does and the picked rows' tokens from
// theirs, in one SampleRows call; bad picks are refused before the step.
func TestForwardBatchSampled(t *testing.T) {
	dir := tinyCheckpoint(t, 1, 40)
	ctx := t.Context()
	open := func(b engine.Backend, p *Paged) *Model {
		m, err := Open(ctx, dir, b, Options{Paged: p})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	plain := open(cpu.New(), &Paged{Blocks: 8, BlockSize: 8})
	ab := &argmaxBackend{Backend: cpu.New()}
	m := open(ab, &Paged{Blocks: 8, BlockSize: 8})
	if plain.SamplesBatchOnDevice() || !m.SamplesBatchOnDevice() || open(&argmaxBackend{Backend: cpu.New()}, nil).SamplesBatchOnDevice() {
		t.Error("SamplesBatchOnDevice: want it only for a paged model on a backend that samples rows")
	}
	// Two sequences: a prompt of three rows and one of two.
	step := engine.Batch{IDs: []int32{1, 5, 9, 1, 7}, Pos: []int32{0, 1, 2, 0, 1}, Seq: []int32{0, 0, 0, 1, 1}, Tables: [][]int32{{0}, {1}}}
	all, err := plain.ForwardBatch(ctx, step, []int{0, 1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	logits, ids, err := m.ForwardBatchSampled(ctx, step, []int{2}, []engine.RowSample{{Row: 4}, {Row: 1}})
	if err != nil {
		t.Fatal(err)
	}
	v := m.VocabSize()
	if !slices.Equal(logits, all[2*v:3*v]) {
		t.Error("the wanted row's logits differ from ForwardBatch's")
	}
	argmax := func(row []float32) int {
		best := 0
		for i, x := range row {
			if x > row[best] {
				best = i
			}
		}
		return best
	}
	if want := []int{argmax(all[4*v : 5*v]), argmax(all[1*v : 2*v])}; !slices.Equal(ids, want) {
		t.Errorf("picked rows 4 and 1: %v, want %v", ids, want)
	}
	if len(ab.calls) != 1 {
		t.Errorf("%d SampleRows calls for one step", len(ab.calls))
	}
	for name, pick := range map[string][]engine.RowSample{
		"a row past the step":          {{Row: 5}},
		"a row both wanted and picked": {{Row: 2}},
		"a row picked twice":           {{Row: 0}, {Row: 0}},
	} {
		if _, _, err := m.ForwardBatchSampled(ctx, step, []int{2}, pick); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(ab.calls) != 1 {
		t.Errorf("SampleRows called for refused steps (%d calls)", len(ab.calls))
	}
	if _, _, err := plain.ForwardBatchSampled(ctx, step, nil, []engine.RowSample{{Row: 4}}); err == nil {
		t.Error("ForwardBatchSampled on a backend without a row sampler: no error")
	}
}

// headRowsCPU is the CPU backend whose RunBatch records the rows each step's
// output layer is run on (engine.RowOps), or hides RowOps when hide is set, so
// that every row gets it.
type headRowsCPU struct {
	*cpu.Backend
	hide bool
	rows [][]int
}

type headRowsOps struct {
	engine.Ops
	b *headRowsCPU
}

func (o headRowsOps) MatMulRows(dst, x, w engine.Tensor, rows []int) {
	o.b.rows = append(o.b.rows, slices.Clone(rows))
	o.Ops.(engine.RowOps).MatMulRows(dst, x, w, rows)
}

func (b *headRowsCPU) RunBatch(ctx context.Context, bt engine.Batch, step func(engine.Ops)) error {
	return b.Backend.RunBatch(ctx, bt, func(o engine.Ops) {
		if b.hide {
			step(struct{ engine.Ops }{o})
			return
		}
		step(headRowsOps{o, b})
	})
}

// TestBatchHeadRows: a ForwardBatch step runs the output layer on the wanted and
// picked rows alone where the backend can (none at all for a step that wants no
// logits), with the same logits as on every row.
func TestBatchHeadRows(t *testing.T) {
	dir := tinyCheckpoint(t, 2, 40)
	ctx := t.Context()
	open := func(b engine.Backend) *Model {
		m, err := Open(ctx, dir, b, Options{Paged: &Paged{Blocks: 8, BlockSize: 8}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	every, some := &headRowsCPU{Backend: cpu.New(), hide: true}, &headRowsCPU{Backend: cpu.New()}
	me, ms := open(every), open(some)
	step := engine.Batch{IDs: []int32{1, 5, 9, 1, 7, 3}, Pos: []int32{0, 1, 2, 0, 1, 2}, Seq: []int32{0, 0, 0, 1, 1, 1}, Tables: [][]int32{{0}, {1}}}
	for _, want := range [][]int{{4, 1}, {5}, {0, 1, 2, 3, 4, 5}, nil} {
		some.rows = nil
		a, err := me.ForwardBatch(ctx, step, want)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ms.ForwardBatch(ctx, step, want)
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.Sorted(slices.Values(want))
		if len(some.rows) != 1 || !slices.Equal(some.rows[0], sorted) {
			t.Errorf("want %v: output layer on rows %v, want on %v once", want, some.rows, sorted)
		}
		if !slices.Equal(a, b) {
			t.Errorf("want %v: logits differ from the output layer's on every row", want)
		}
	}
	if len(every.rows) != 0 {
		t.Errorf("a backend without RowOps got rows %v", every.rows)
	}
}
