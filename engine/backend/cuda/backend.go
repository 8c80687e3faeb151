//go:build cuda

package cuda

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
	_ "github.com/rewoo-agent/agent/engine/backend/cuda/internal/cuinit" // before cu's init: a clear error without a GPU
	"github.com/rewoo-agent/agent/engine/gptq"
)

// The CUDA backend comes before the CPU for "auto" wherever the driver sees a GPU.
// The driver numbers the devices CUDA_VISIBLE_DEVICES leaves visible, and only
// those: nothing here looks past it (no NVML, no PCI bus ids).
func init() {
	engine.RegisterBackend(engine.Driver{Name: "cuda", Priority: 100, Probe: Devices, Open: Open})
}

// Devices counts the GPUs the driver makes visible to this process.
func Devices(ctx context.Context) (int, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return 0, fmt.Errorf("cuda: count devices: %w", err)
	}
	return n, nil
}

// stagingBytes is the size of the pinned buffer weights pass through on their way
// from the memory-mapped checkpoint to the device.
const stagingBytes = 64 << 20

// Backend runs the forward pass on one NVIDIA GPU.
type Backend struct {
	th  *thread
	dev *device // used only on th

	shape     engine.Shape
	reserved  bool
	staging   pinned
	step      cu.DevicePtr // the Step record (common.cuh)
	ids       cu.DevicePtr // MaxBatch int32 ids of the current batch
	hist      cu.DevicePtr // Context int32 ids for the sampler's repetition penalty
	mark      cu.DevicePtr // MaxBatch×Vocab bytes of sampler scratch, Vocab for each row sampled at once
	rowArgs   cu.DevicePtr // SampleRows' rows (rowSampleWords int32 each), then their histories: rowArgsWords(MaxBatch, Context)
	rowTokens cu.DevicePtr // SampleRows' ids, MaxBatch int32
	part      cu.DevicePtr // attention's per-split partial results
	attnCount cu.DevicePtr // per (row, head), attention's splits done (attnCounts)
	mvPart    cu.DevicePtr // the decode product's per-split partial sums (mvPartFloats)
	mvCount   cu.DevicePtr // per column block, the decode product's splits done (mvBlocks)
	xh        cu.DevicePtr // a prompt product's input in float16, gathered (MaxBatch×max(Hidden, Intermediate))
	longW     cu.DevicePtr // a long prompt step's weight dequantized to float16 (longWBytes; 0 without long steps)
	xt        cu.DevicePtr // a decode batch's input for the raw builds gptq_tcN_m16_p1w4r (gather_xtN): xtBytes
	xtSums    cu.DevicePtr // its per-row sums of every four-chunk block: xtSumsBytes
	mmFix     cu.DevicePtr // streamed prompt products' fix-up slots, a block's sums for a tile it shares (mmFixFloats)
	mmFlags   cu.DevicePtr // per block of a streamed prompt product, its slot's flag (zero between launches)
	headRows  cu.DevicePtr // MatMulRows' row list, MaxBatch int32
	headX     cu.DevicePtr // its rows of x together, headRowsMax×Hidden floats
	headY     cu.DevicePtr // their product, headRowsMax×Vocab floats
	rows      int          // rows of the current batch
	batched   bool         // the current step is a RunBatch (rows of their own positions)
	pool      *pool        // the paged caches' geometry and batch buffer; nil without one
	err       error        // first failure of the current Run
	closed    bool

	prog     program           // the work of the current Run, recorded by ops
	pend     pendingMV         // decode products recorded but not yet launched
	ropes    pendingRoPE       // RoPE operations recorded but not yet launched
	seen     map[int]*program  // the last program issued launch by launch, by batch size (negative under RunBatch)
	graphs   map[int]*captured // captured programs, by batch size (negative under RunBatch)
	noGraphs bool              // issue every Run launch by launch (benchmarks compare)

	perms map[[sha256.Size]byte]cu.DevicePtr // the act-order permutations uploaded, by their SHA-256 (LoadQuant)
}

var (
	_ engine.Backend            = (*Backend)(nil)
	_ engine.DeviceSampler      = (*Backend)(nil)
	_ engine.BatchDeviceSampler = (*Backend)(nil)
)

// Open starts a backend on device ordinal (0 <= ordinal < Devices): the context
// thread, the kernel modules (the PTX for the device's compute capability) and the
// stream. An ordinal the driver does not have is ErrNoDevice, with the count.
func Open(ctx context.Context, ordinal int) (engine.Backend, error) {
	n, err := Devices(ctx)
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda:%d: %w (this machine has %d)", ordinal, engine.ErrNoDevice, n)
	}
	return openDevice(ctx, ordinal)
}

func openDevice(ctx context.Context, ordinal int) (*Backend, error) {
	th, err := startThread(ordinal)
	if err != nil {
		return nil, err
	}
	b := &Backend{th: th, seen: map[int]*program{}, graphs: map[int]*captured{}, perms: map[[sha256.Size]byte]cu.DevicePtr{}}
	err = th.Do(ctx, func() (err error) {
		b.dev, err = newDevice(ordinal)
		return err
	})
	if err != nil {
		th.stop()
		return nil, err
	}
	return b, nil
}

// Name reports the backend and its device, e.g. "cuda (NVIDIA H100 80GB HBM3, sm_90)".
func (b *Backend) Name() string {
	return fmt.Sprintf("cuda (%s, sm_%d%d)", b.dev.name, b.dev.major, b.dev.minor)
}

// tensor is a device buffer with its logical shape; quantized weights add their
// packed parts.
type tensor struct {
	rows, cols int
	kind       kind
	p          cu.DevicePtr // float32 activation, float16 dense weight, qweight, or cache
	q          *quant
}

type kind int

const (
	activation kind = iota
	dense
	quantized
	cache
	paged // a paged cache: rows are the pool's slots (paged.go)
)

type quant struct {
	bits       int
	zeroOffset float32
	qzeros     cu.DevicePtr
	scales     cu.DevicePtr
	cgroup     cu.DevicePtr // group of each 32-row chunk of the (sorted) rows
	perm       cu.DevicePtr // input index of each sorted row; 0 when rows are in order
	quadGroups bool         // every four-chunk block (128 sorted rows) has one group: gptq_tcN_m16_p1w4r takes it
}

func (t *tensor) Dims() (rows, cols int) { return t.rows, t.cols }

// need is the device memory a shape takes beyond its weights: KV caches, activation
// buffers (the model holds about a dozen, the widest being the logits), the float16
// input of prompt products and, on Hopper, the long steps' float16 weight
// (longWBytes), and the sampler's (samplerBytes) and reordering scratch.
func need(s engine.Shape, hopper bool) (caches, acts int64) {
	caches = int64(s.Layers) * 2 * int64(s.KVHeads*s.HeadDim) * int64(s.Context) * 2
	widest := int64(max(s.Hidden, s.Intermediate, s.Vocab))
	acts = 16*int64(s.MaxBatch)*widest*4 + xhBytes(s) + longWBytes(s, hopper) + xtBytes(s) + xtSumsBytes(s) + samplerBytes(s)
	return caches, acts
}

// xtBytes is the size of gather_xtN's input of a decode batch (mvRowsMax rows, float16,
// of the widest product's inputs padded to whole four-chunk blocks: xtInputs) and
// xtSumsBytes that of its sums (two floats per row and four-chunk block).
func xtBytes(s engine.Shape) int64 {
	return mvRowsMax * int64(xtInputs(max(s.Hidden, s.Intermediate))) * 2
}

// xtInputs is K inputs padded to whole four-chunk blocks (128), as gather_xtN writes them.
func xtInputs(K int) int { return 128 * ceil(K, 128) }

func xtSumsBytes(s engine.Shape) int64 {
	return mvRowsMax * int64(ceil(max(s.Hidden, s.Intermediate), 128)) * 8
}

// samplerBytes is the device sampler's scratch: marks, the rows, their histories
// and ids for MaxBatch rows at once.
func samplerBytes(s engine.Shape) int64 {
	return int64(s.MaxBatch)*int64(s.Vocab) + 4*rowArgsWords(s.MaxBatch, s.Context) + 4*int64(s.MaxBatch)
}

// xhBytes is the size of the gathered float16 input of a prompt product, in
// gemm_ws's tiles too (tiledBytes).
func xhBytes(s engine.Shape) int64 {
	return tiledBytes(s.MaxBatch, 128, max(s.Hidden, s.Intermediate))
}

// tiledBytes is the float16 size of an operand of rows rows of K in gemm_ws's tiles
// (kernels/hopper.cu's tile_at) of R rows: rows rounded up to whole tiles, K to
// whole steps of 64.
func tiledBytes(rows, R, K int) int64 {
	return int64(ceil(rows, R)*R) * int64(ceil(K, 64)*64) * 2
}

// longWBytes is the float16 weight of a long prompt step (ops.go's longBuild), in
// gemm_ws's tiles of 256 columns: the widest product's, Hidden by Intermediate either
// way, where the sm_90a modules are loaded and a step may reach longRowsMin rows;
// none otherwise.
func longWBytes(s engine.Shape, hopper bool) int64 {
	if !hopper || s.MaxBatch < longRowsMin {
		return 0
	}
	return max(tiledBytes(s.Hidden, 256, s.Intermediate), tiledBytes(s.Intermediate, 256, s.Hidden))
}

// DefaultMaxBatch implements engine.PromptRows: prompts in steps of up to 2048 rows
// where the sm_90a modules are loaded (long steps, longBuild), of 512 elsewhere. On
// the H200 a 65B prompt of 512 tokens took 236-249 ms in one 512-row step against
// 269-281 in two of 256 (BENCHMARKS.md, "CUDA speed work, round 5"): at 256 rows a
// product's 128-row tiles leave the 132 multiprocessors short of work. With long
// steps a 1,920-token prompt took 533-540 ms in one step against 546-607 in steps
// of 512 (BENCHMARKS.md, "Long prompt steps"); the float16 weight buffer and the
// wider activations take about 3.7 GB more at 65B's shapes.
func (b *Backend) DefaultMaxBatch() int {
	if b.dev.hopper {
		return 2048
	}
	return 512
}

// Reserve refuses a shape that does not fit the device's free memory, before
// anything of the model is allocated, then allocates the per-run buffers.
func (b *Backend) Reserve(ctx context.Context, s engine.Shape) error {
	if s.MaxBatch <= 0 || s.Context <= 0 || s.Vocab <= 0 || s.HeadDim <= 0 || s.HeadDim%32 != 0 || s.HeadDim > 256 {
		return fmt.Errorf("cuda: unsupported shape %+v (head dim must be a multiple of 32 up to 256)", s)
	}
	return b.th.Do(ctx, func() error {
		if b.reserved {
			return errors.New("cuda: backend already holds a model")
		}
		free, total, err := cu.MemInfo()
		if err != nil {
			return fmt.Errorf("cuda: memory info: %w", err)
		}
		caches, acts := need(s, b.dev.hopper)
		const margin = 512 << 20 // context, modules, the largest act-order staging copy
		want := s.WeightBytes + caches + acts + margin
		if want > free {
			return fmt.Errorf("%w: %s needs %s (weights %s, KV cache %s for %d positions, activations %s, reserve %s) but %s of %s is free",
				engine.ErrNoMemory, b.dev.name, size(want), size(s.WeightBytes), size(caches), s.Context, size(acts), size(margin), size(free), size(total))
		}
		if b.staging, err = allocPinned(stagingBytes); err != nil {
			return err
		}
		allocs := []struct {
			p    *cu.DevicePtr
			what string
			n    int64
		}{
			{&b.step, "step record", 16},
			{&b.ids, "batch ids", int64(s.MaxBatch) * 4},
			{&b.hist, "sampling history", int64(s.Context) * 4},
			{&b.mark, "sampling scratch", int64(s.MaxBatch) * int64(s.Vocab)},
			{&b.rowArgs, "batched sampling rows and histories", 4 * rowArgsWords(s.MaxBatch, s.Context)},
			{&b.rowTokens, "batched sampling ids", 4 * int64(s.MaxBatch)},
			{&b.part, "attention partial results", int64(attnParts(b.dev.sms)) * int64(s.HeadDim+2) * 4},
			{&b.attnCount, "attention split counters", int64(attnCounts(b.dev.sms)) * 4},
			{&b.mvPart, "decode product partial sums", int64(mvPartFloats(b.dev.sms)) * 4},
			{&b.mvCount, "decode product split counters", int64(mvBlocks(b.dev.sms)) * 4},
			{&b.xh, "prompt product input (float16)", xhBytes(s)},
			{&b.xt, "decode batch input (float16, raw-operand layout)", xtBytes(s)},
			{&b.xtSums, "decode batch input sums", xtSumsBytes(s)},
			{&b.mmFix, "streamed prompt product fix-ups", int64(mmFixFloats(b.dev)) * 4},
			{&b.mmFlags, "streamed prompt product flags", int64(b.dev.sms) * 4},
			{&b.headRows, "output layer rows", int64(s.MaxBatch) * 4},
			{&b.headX, "output layer rows' input", int64(headRowsMax) * int64(s.Hidden) * 4},
			{&b.headY, "output layer rows' logits", int64(headRowsMax) * int64(s.Vocab) * 4},
		}
		for _, a := range allocs {
			if *a.p, err = b.dev.alloc(a.what, a.n); err != nil {
				return err
			}
		}
		if n := longWBytes(s, b.dev.hopper); n > 0 {
			if b.longW, err = b.dev.alloc("long prompt step weight (float16)", n); err != nil {
				return err
			}
		}
		if err := b.dev.zero(b.mmFlags, b.dev.sms); err != nil {
			return err
		}
		if err := b.dev.zero(b.mvCount, mvBlocks(b.dev.sms)); err != nil {
			return err
		}
		if err := b.dev.zero(b.attnCount, attnCounts(b.dev.sms)); err != nil {
			return err
		}
		b.shape, b.reserved = s, true
		return nil
	})
}

// upload copies src to device memory at dst through the pinned staging buffer.
func (b *Backend) upload(dst cu.DevicePtr, src []byte, what string) error {
	stage := b.staging.bytes()
	for off := 0; off < len(src); off += len(stage) {
		n := copy(stage, src[off:])
		if err := cu.MemcpyHtoD(dst+cu.DevicePtr(off), b.staging.p, int64(n)); err != nil {
			return fmt.Errorf("cuda: copy %s to the device: %w", what, err)
		}
	}
	return nil
}

func (b *Backend) allocUpload(what string, src []byte) (cu.DevicePtr, error) {
	p, err := b.dev.alloc(what, int64(len(src)))
	if err != nil {
		return 0, err
	}
	if err := b.upload(p, src, what); err != nil {
		b.dev.free(p)
		return 0, err
	}
	return p, nil
}

// LoadDense uploads a float16 weight as it is.
func (b *Backend) LoadDense(ctx context.Context, w engine.DenseWeight) (engine.Tensor, error) {
	if w.Rows <= 0 || w.Cols <= 0 || len(w.F16) != 2*w.Rows*w.Cols {
		return nil, fmt.Errorf("cuda: %s: %d bytes for %d×%d float16", w.Name, len(w.F16), w.Rows, w.Cols)
	}
	t := &tensor{rows: w.Rows, cols: w.Cols, kind: dense}
	err := b.th.Do(ctx, func() (err error) {
		t.p, err = b.allocUpload(w.Name, w.F16)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// order works out how the kernels walk a layer's rows: perm sorts the rows by group
// (gptq.ActOrder; nil when they already are) and cgroup gives the group of each run
// of 32 sorted rows, which must be whole runs of one group.
func order(w engine.QuantWeight) (perm, cgroup []int32, err error) {
	g, perm, err := gptq.ActOrder(w)
	if err != nil {
		return nil, nil, err
	}
	cgroup = make([]int32, w.In/32)
	for c := range cgroup {
		for i := range 32 {
			k := 32*c + i
			if perm != nil {
				k = int(perm[k])
			}
			if i == 0 {
				cgroup[c] = g[k]
			} else if g[k] != cgroup[c] {
				return nil, nil, fmt.Errorf("%s.g_idx: groups are not whole runs of 32 rows (rows sorted %d and %d differ)", w.Name, 32*c, 32*c+i)
			}
		}
	}
	return perm, cgroup, nil
}

// quadGroups reports whether every four consecutive chunks from the first (the last
// block may have fewer) have one group.
func quadGroups(cgroup []int32) bool {
	for c := range cgroup {
		if cgroup[c] != cgroup[c-c%4] {
			return false
		}
	}
	return true
}

func int32Bytes(v []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// LoadQuant uploads a GPTQ layer in the checkpoint's packed layout; act-order rows
// are sorted by group on the device.
func (b *Backend) LoadQuant(ctx context.Context, w engine.QuantWeight) (engine.Tensor, error) {
	if err := checkQuant(w); err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	perm, cgroup, err := order(w)
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	t := &tensor{rows: w.In, cols: w.Out, kind: quantized, q: &quant{bits: w.Bits, zeroOffset: float32(w.ZeroOffset), quadGroups: quadGroups(cgroup)}}
	err = b.th.Do(ctx, func() error {
		var err error
		q := t.q
		if q.qzeros, err = b.allocUpload(w.Name+".qzeros", w.QZeros); err != nil {
			return err
		}
		if q.scales, err = b.allocUpload(w.Name+".scales", w.Scales); err != nil {
			return err
		}
		if q.cgroup, err = b.allocUpload(w.Name+" chunk groups", int32Bytes(cgroup)); err != nil {
			return err
		}
		if perm == nil {
			t.p, err = b.allocUpload(w.Name+".qweight", w.QWeight)
			return err
		}
		if q.perm, err = b.uploadPerm(w.Name, perm); err != nil {
			return err
		}
		raw, err := b.allocUpload(w.Name+".qweight (as stored)", w.QWeight)
		if err != nil {
			return err
		}
		defer b.dev.free(raw)
		if t.p, err = b.dev.alloc(w.Name+".qweight (sorted by group)", int64(len(w.QWeight))); err != nil {
			return err
		}
		name := fmt.Sprintf("gptq_reorder_%d", w.Bits)
		if err := b.dev.launch(name, [3]int{ceil(w.Out, 256), w.In / 32, 1}, 256, 0, raw, t.p, q.perm, w.Out); err != nil {
			return err
		}
		return b.dev.sync(name + " of " + w.Name)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// uploadPerm returns the device copy of an act-order permutation, uploading it the
// first time it is seen. Layers of one input share it: GPTQ sorts a layer's rows by
// the Hessian of its input, so q, k and v (and gate and up) get the same g_idx, as
// AutoGPTQ's own fixtures in testdata have. Sharing it lets their products gather
// that input once (ops.gatherInput) and be one launch in decode batches.
func (b *Backend) uploadPerm(name string, perm []int32) (cu.DevicePtr, error) {
	key := sha256.Sum256(int32Bytes(perm))
	if p, ok := b.perms[key]; ok {
		return p, nil
	}
	p, err := b.allocUpload(name+" act-order permutation", int32Bytes(perm))
	if err == nil {
		b.perms[key] = p
	}
	return p, err
}

// checkQuant adds the kernels' constraints to gptq.CheckWeight's: both sizes in
// whole 32-row chunks and groups of whole chunks.
func checkQuant(w engine.QuantWeight) error {
	if err := gptq.CheckWeight(w); err != nil {
		return err
	}
	switch {
	case w.In%32 != 0 || w.Out%32 != 0:
		return fmt.Errorf("%s: layer %d×%d: both sizes must be multiples of 32", w.Name, w.In, w.Out)
	case w.GroupSize%32 != 0 && w.GroupSize != w.In:
		return fmt.Errorf("%s: group size %d: must be a multiple of 32", w.Name, w.GroupSize)
	}
	return nil
}

// NewActivation returns a float32 buffer of rows×cols.
func (b *Backend) NewActivation(ctx context.Context, rows, cols int) (engine.Tensor, error) {
	return b.newBuffer(ctx, activation, rows, cols, int64(rows)*int64(cols)*4, fmt.Sprintf("activation %d×%d", rows, cols))
}

// NewCache returns a layer's float16 key-value cache for Shape.Context positions.
func (b *Backend) NewCache(ctx context.Context, kvHeads, headDim int) (engine.Tensor, error) {
	n := int64(b.shape.Context) * int64(kvHeads*headDim)
	return b.newBuffer(ctx, cache, b.shape.Context, kvHeads*headDim, 2*n*2, fmt.Sprintf("KV cache %d×%d×%d", b.shape.Context, kvHeads, headDim))
}

func (b *Backend) newBuffer(ctx context.Context, k kind, rows, cols int, n int64, what string) (engine.Tensor, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("cuda: %s: bad size", what)
	}
	t := &tensor{rows: rows, cols: cols, kind: k}
	err := b.th.Do(ctx, func() (err error) {
		t.p, err = b.dev.alloc(what, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Run uploads the batch's ids and start position, then issues step's operations.
func (b *Backend) Run(ctx context.Context, ids []int32, start int, step func(engine.Ops)) error {
	if err := b.checkBatch(ids, start); err != nil {
		return err
	}
	return b.th.Do(ctx, func() error {
		if err := b.setBatch(ids, start, 0, 0); err != nil {
			return err
		}
		return b.issue(step, len(ids), false)
	})
}

// issue records step's operations for rows rows (of a RunBatch step when batched)
// from a clean state, then runs them: a CUDA graph per number of rows, Run's and
// RunBatch's apart. It runs on the backend's thread.
func (b *Backend) issue(step func(engine.Ops), rows int, batched bool) error {
	b.rows, b.err, b.batched = rows, nil, batched
	b.prog.reset()
	b.pend, b.ropes = pendingMV{}, pendingRoPE{}
	step(ops{b})
	ops{b}.flush()
	if b.err != nil {
		return b.err
	}
	if batched {
		return b.execute(-rows) // graphs of RunBatch steps are keyed apart from Run's
	}
	return b.execute(rows)
}

func (b *Backend) checkBatch(ids []int32, start int) error {
	switch {
	case !b.reserved:
		return errors.New("cuda: Run before Reserve")
	case len(ids) == 0 || len(ids) > b.shape.MaxBatch:
		return fmt.Errorf("cuda: batch of %d ids (1..%d)", len(ids), b.shape.MaxBatch)
	case start < 0 || start+len(ids) > b.shape.Context:
		return fmt.Errorf("cuda: positions %d..%d outside the context of %d", start, start+len(ids)-1, b.shape.Context)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= b.shape.Vocab {
			return fmt.Errorf("cuda: id %d (at %d) outside the vocabulary [0, %d)", id, i, b.shape.Vocab)
		}
	}
	return nil
}

// setBatch writes the Step record and the ids (on the thread).
func (b *Backend) setBatch(ids []int32, start, nhist int, u float32) error {
	rec := [4]uint32{uint32(start), uint32(nhist), math.Float32bits(u), 0}
	if err := cu.MemcpyHtoD(b.step, unsafe.Pointer(&rec[0]), 16); err != nil {
		return fmt.Errorf("cuda: copy the step record: %w", err)
	}
	if len(ids) > 0 {
		if err := cu.MemcpyHtoD(b.ids, unsafe.Pointer(&ids[0]), int64(4*len(ids))); err != nil {
			return fmt.Errorf("cuda: copy %d ids: %w", len(ids), err)
		}
	}
	return nil
}

// Read waits for the device and copies rows [row, row+n) of x to dst.
func (b *Backend) Read(ctx context.Context, dst []float32, x engine.Tensor, row, n int) error {
	t, ok := x.(*tensor)
	if !ok || t.kind != activation {
		return fmt.Errorf("cuda: Read of a %T that is not an activation of this backend", x)
	}
	if row < 0 || n <= 0 || row+n > t.rows || len(dst) != n*t.cols {
		return fmt.Errorf("cuda: Read rows %d..%d of %d×%d into %d floats", row, row+n-1, t.rows, t.cols, len(dst))
	}
	return b.th.Do(ctx, func() error {
		if err := b.dev.sync("forward pass"); err != nil {
			return err
		}
		off := cu.DevicePtr(int64(row) * int64(t.cols) * 4)
		if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), t.p+off, int64(len(dst))*4); err != nil {
			return fmt.Errorf("cuda: copy %d rows to the host: %w", n, err)
		}
		return nil
	})
}

// Close frees every buffer and the context.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.th.Do(context.Background(), func() error {
		err := b.dev.sync("close")
		b.dropGraphs()
		b.staging.free()
		b.dev.close()
		return err
	})
	b.th.stop()
	return err
}

func ceil(a, b int) int { return (a + b - 1) / b }
