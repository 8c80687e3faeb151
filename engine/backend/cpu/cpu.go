// Package cpu is the pure-Go float32 backend: it registers itself as "cpu" and
// computes every operation of engine.Ops on the host, spread over all cores, with
// the paged cache and multi-sequence steps of engine.PagedBackend.
// Quantized weights stay packed (read straight from the memory-mapped checkpoint
// where their rows are in group order) and are never unpacked: the matrix product
// looks each byte of packed bits up in tables built from the inputs (see quant);
// prompts are processed in batches so each packed weight is read once per batch,
// and the output layer runs on the rows whose logits are read alone
// (engine.LastRowOps, engine.RowOps).
package cpu

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// The CPU is always there: no probe, one device, the lowest priority for "auto".
func init() {
	engine.RegisterBackend(engine.Driver{Name: "cpu", Priority: 0,
		Open: func(context.Context, int) (engine.Backend, error) { return New(), nil }})
}

// Backend is the CPU backend.
type Backend struct {
	shape engine.Shape
	// Scratch reused across operations: the gathered input of act-order layers, and
	// MatMulRows' rows of the input and of the product.
	gather, rowsIn, rowsOut []float32
}

// pass is one Run: the batch, where it starts, the first failure, and the Run's
// cancellation check (ctx.Err), which each operation consults before it starts.
type pass struct {
	b         *Backend
	ids       []int32
	start     int
	err       error
	cancelled func() error
	// batch is set for RunBatch: the rows' positions, sequences and block tables.
	batch *engine.Batch
}

// position is row t's position in its sequence.
func (st *pass) position(t int) int {
	if st.batch != nil {
		return int(st.batch.Pos[t])
	}
	return st.start + t
}

var (
	_ engine.PagedBackend = (*Backend)(nil)
	_ engine.Ops          = (*pass)(nil)
)

// New returns a CPU backend.
func New() *Backend { return &Backend{} }

// Name implements engine.Backend.
func (b *Backend) Name() string { return "cpu" }

// activation is a rows×cols float32 buffer.
type activation struct {
	rows, cols int
	data       []float32
}

func (a *activation) Dims() (int, int) { return a.rows, a.cols }

// dense is an unquantized weight converted to float32, rows×cols.
type dense struct {
	rows, cols int
	data       []float32
}

func (d *dense) Dims() (int, int) { return d.rows, d.cols }

// kvCache holds one layer's keys and values, positions×cols each.
type kvCache struct {
	positions, kvHeads, headDim int
	k, v                        []float32
}

func (c *kvCache) Dims() (int, int) { return c.positions, c.kvHeads * c.headDim }

// Reserve implements engine.Backend: the weights stay in the mapped file (their
// pages count against memory too); float32 copies of the dense weights, the KV
// cache and activations are allocated.
func (b *Backend) Reserve(ctx context.Context, s engine.Shape) error {
	b.shape = s
	kv := int64(s.KVHeads * s.HeadDim)
	need := s.WeightBytes + // packed weights, mapped
		2*2*int64(s.Vocab)*int64(s.Hidden) + // embeddings and lm_head as float32
		int64(s.Layers)*2*int64(s.Context)*kv*4 + // KV cache
		int64(s.MaxBatch)*int64(4*s.Hidden+2*s.Intermediate+2*int(kv)+s.Vocab)*4
	avail, ok := memAvailable()
	if ok && need > avail {
		return fmt.Errorf("%w: needs %.1f GiB (weights %.1f GiB, KV cache for %d positions %.1f GiB), %.1f GiB available",
			engine.ErrNoMemory, gib(need), gib(s.WeightBytes), s.Context, gib(int64(s.Layers)*2*int64(s.Context)*kv*4), gib(avail))
	}
	return nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

// memAvailable reads MemAvailable from /proc/meminfo where there is one.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// LoadDense implements engine.Backend.
func (b *Backend) LoadDense(ctx context.Context, w engine.DenseWeight) (engine.Tensor, error) {
	if len(w.F16) != 2*w.Rows*w.Cols {
		return nil, fmt.Errorf("%s: %d bytes for %d×%d float16", w.Name, len(w.F16), w.Rows, w.Cols)
	}
	d := &dense{rows: w.Rows, cols: w.Cols, data: make([]float32, w.Rows*w.Cols)}
	half.Decode(d.data, w.F16)
	return d, nil
}

// LoadQuant implements engine.Backend.
func (b *Backend) LoadQuant(ctx context.Context, w engine.QuantWeight) (engine.Tensor, error) {
	return newQuant(w)
}

// NewActivation implements engine.Backend.
func (b *Backend) NewActivation(ctx context.Context, rows, cols int) (engine.Tensor, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("cpu: activation %d×%d", rows, cols)
	}
	return &activation{rows: rows, cols: cols, data: make([]float32, rows*cols)}, nil
}

// NewCache implements engine.Backend.
func (b *Backend) NewCache(ctx context.Context, kvHeads, headDim int) (engine.Tensor, error) {
	n := b.shape.Context * kvHeads * headDim
	if n <= 0 {
		return nil, fmt.Errorf("cache before Reserve")
	}
	return &kvCache{positions: b.shape.Context, kvHeads: kvHeads, headDim: headDim,
		k: make([]float32, n), v: make([]float32, n)}, nil
}

// pagedCache holds one layer's keys and values in blocks of blockSize positions.
type pagedCache struct {
	blocks, blockSize, kvHeads, headDim int
	k, v                                []float32
}

func (c *pagedCache) Dims() (int, int) { return c.blocks * c.blockSize, c.kvHeads * c.headDim }

// NewPagedCache implements engine.PagedBackend.
func (b *Backend) NewPagedCache(ctx context.Context, kvHeads, headDim, blocks, blockSize int) (engine.Tensor, error) {
	if kvHeads <= 0 || headDim <= 0 || blocks <= 0 || blockSize <= 0 {
		return nil, fmt.Errorf("cpu: paged cache of %d blocks of %d positions of %d×%d", blocks, blockSize, kvHeads, headDim)
	}
	n := blocks * blockSize * kvHeads * headDim
	return &pagedCache{blocks: blocks, blockSize: blockSize, kvHeads: kvHeads, headDim: headDim,
		k: make([]float32, n), v: make([]float32, n)}, nil
}

// KVMemory implements engine.PagedBackend: the host's available memory.
func (b *Backend) KVMemory() (int64, bool) { return memAvailable() }

// KVShare implements engine.PagedBackend: half the host's available memory, the
// rest left to the system and the other programs on it.
func (b *Backend) KVShare() float64 { return 0.5 }

// KVValueBytes implements engine.PagedBackend: the paged cache holds float32.
func (b *Backend) KVValueBytes() int { return 4 }

// RunBatch implements engine.PagedBackend. The block tables are checked against
// each paged cache by Attention, which knows the cache's size.
func (b *Backend) RunBatch(ctx context.Context, bt engine.Batch, step func(engine.Ops)) error {
	n := len(bt.IDs)
	if n == 0 || n > b.shape.MaxBatch || len(bt.Pos) != n || len(bt.Seq) != n {
		return fmt.Errorf("cpu: batch of %d ids, %d positions, %d sequences (max batch %d)", n, len(bt.Pos), len(bt.Seq), b.shape.MaxBatch)
	}
	for i := range n {
		if p := bt.Pos[i]; p < 0 || int(p) >= b.shape.Context {
			return fmt.Errorf("cpu: row %d at position %d (context %d)", i, p, b.shape.Context)
		}
		if s := bt.Seq[i]; s < 0 || int(s) >= len(bt.Tables) {
			return fmt.Errorf("cpu: row %d of sequence %d (%d block tables)", i, s, len(bt.Tables))
		}
	}
	st := &pass{b: b, ids: bt.IDs, batch: &bt, cancelled: ctx.Err}
	step(st)
	return st.err
}

// Run implements engine.Backend.
func (b *Backend) Run(ctx context.Context, ids []int32, start int, step func(engine.Ops)) error {
	if len(ids) == 0 || len(ids) > b.shape.MaxBatch || start < 0 || start+len(ids) > b.shape.Context {
		return fmt.Errorf("cpu: batch of %d at %d (max batch %d, context %d)", len(ids), start, b.shape.MaxBatch, b.shape.Context)
	}
	st := &pass{b: b, ids: ids, start: start, cancelled: ctx.Err}
	step(st)
	return st.err
}

// Read implements engine.Backend.
func (b *Backend) Read(ctx context.Context, dst []float32, x engine.Tensor, row, n int) error {
	a, ok := x.(*activation)
	if !ok {
		return fmt.Errorf("cpu: read of a %T", x)
	}
	if row < 0 || n < 0 || row+n > a.rows || len(dst) != n*a.cols {
		return fmt.Errorf("cpu: read rows %d..%d of %d×%d into %d floats", row, row+n, a.rows, a.cols, len(dst))
	}
	copy(dst, a.data[row*a.cols:(row+n)*a.cols])
	return nil
}

// Close implements engine.Backend; the garbage collector frees the buffers.
func (b *Backend) Close() error { return nil }

// fail records the first error of a step; later operations are skipped.
func (st *pass) fail(format string, args ...any) {
	if st.err == nil {
		st.err = fmt.Errorf("cpu: "+format, args...)
	}
}

// ok reports whether the step may go on.
func (st *pass) ok() bool {
	if st.err == nil {
		st.err = st.cancelled()
	}
	return st.err == nil
}

// acts type-asserts activations, each holding at least the batch's rows.
func (st *pass) acts(op string, ts ...engine.Tensor) []*activation {
	out := make([]*activation, len(ts))
	for i, t := range ts {
		a, ok := t.(*activation)
		if !ok {
			st.fail("%s: argument %d is a %T, not an activation", op, i, t)
			return nil
		}
		if a.rows < len(st.ids) {
			st.fail("%s: argument %d has %d rows for a batch of %d", op, i, a.rows, len(st.ids))
			return nil
		}
		out[i] = a
	}
	return out
}

// parallel runs f over [0, n) split into one contiguous range per core.
func parallel(n int, f func(lo, hi int)) {
	p := min(runtime.GOMAXPROCS(0), n)
	if p <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range p {
		lo, hi := i*n/p, (i+1)*n/p
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// words views little-endian int32 tensor bytes as uint32 without copying where the
// bytes are aligned and the machine little-endian, else decodes a copy.
func words(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 && littleEndian {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()
