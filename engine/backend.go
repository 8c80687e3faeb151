package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A Backend computes the LLaMA forward pass one operation at a time on one device.
//
// The model (engine/llama) is written once against this interface; a backend holds
// no model logic, only the operations, so the CPU and CUDA backends compute the same
// pass and can be checked against each other op by op.
//
// Life of a model on a backend:
//
//  1. Reserve with the model's Shape: the backend checks that weights, KV cache and
//     scratch fit the device and refuses (ErrNoMemory, with the numbers) before it
//     allocates anything.
//  2. LoadDense / LoadQuant for every weight, layer by layer. The byte slices point
//     into the memory-mapped checkpoint, which the model keeps mapped until after
//     the backend's Close: a backend may compute straight from them (the CPU backend
//     does) or upload them, in any layout it likes (the CUDA backend reorders
//     act-order rows by GIdx here).
//  3. NewActivation and NewCache for the scratch buffers and the per-layer KV caches,
//     sized for Shape.MaxBatch rows and Shape.Context positions.
//  4. For each forward step, Run, then Read to copy rows of the result to the host.
//
// All tensors are opaque and owned by the backend; Close frees them all. A backend
// holds one model and is not safe for concurrent use.
type Backend interface {
	Name() string
	// Reserve checks that a model of this shape fits and prepares to hold it.
	Reserve(ctx context.Context, s Shape) error
	LoadDense(ctx context.Context, w DenseWeight) (Tensor, error)
	LoadQuant(ctx context.Context, w QuantWeight) (Tensor, error)
	// NewActivation returns a rows×cols buffer of activations (float32 or float16,
	// the backend's choice).
	NewActivation(ctx context.Context, rows, cols int) (Tensor, error)
	// NewCache returns the key-value cache of one layer: Shape.Context positions of
	// kvHeads×headDim keys and values.
	NewCache(ctx context.Context, kvHeads, headDim int) (Tensor, error)
	// Run makes ids the current batch, at positions start, start+1, ..., and calls
	// step, which issues the operations of one forward pass through ops. The ids and
	// positions live in backend buffers that the operations read, so for a given
	// len(ids) a step function issues exactly the same operations with the same
	// arguments whatever the ids and start: a backend may record the sequence once
	// per batch size and replay it while the step issues the same operations (the
	// CUDA backend records every Run's and compares; a model may use more than one
	// step function, e.g. llama's with the output layer on the last row only). step
	// must do nothing but issue operations.
	//
	// Operations do not return errors: the first failure is kept and returned by Run
	// (device backends may report it from Read, where they synchronize).
	Run(ctx context.Context, ids []int32, start int, step func(Ops)) error
	// Read copies rows [row, row+n) of x, as float32, into dst (n×cols floats).
	Read(ctx context.Context, dst []float32, x Tensor, row, n int) error
	Close() error
}

// PromptRows is implemented by a backend whose steps run best with a number of
// rows other than the model's default MaxBatch (llama.Options.MaxBatch 0: 256):
// prompts are fed in steps of that many rows, and a batching engine's steps carry
// that many rows of decodes and prompt chunks.
type PromptRows interface {
	DefaultMaxBatch() int
}

// Ops are the operations of the forward pass. Each acts on the first T rows of its
// activations, T being the number of ids of the current Run, row i being the token at
// position start+i. dst may not alias an input unless said.
type Ops interface {
	// Embed sets dst row i to row ids[i] of table (a DenseWeight [vocab, hidden]).
	Embed(dst, table Tensor)
	// RMSNorm sets dst = x / sqrt(mean(x²) + eps) * weight, row by row; dst may be x.
	RMSNorm(dst, x, weight Tensor, eps float32)
	// MatMul sets dst = x·W for a QuantWeight W ([in, out]) or dst = x·Wᵀ for a
	// DenseWeight W stored [out, in] as PyTorch's Linear does (lm_head).
	MatMul(dst, x, w Tensor)
	// RoPE rotates x (heads×headDim columns) in place by position, pairing column j
	// with j+headDim/2 in each head (the rotate-half form of Hugging Face's LLaMA),
	// with frequencies theta^(-2j/headDim).
	RoPE(x Tensor, headDim int, theta float32)
	// Attention writes k and v (rows of kvHeads×headDim, already rotated) into cache
	// at the batch's positions, then sets dst to causal softmax attention of q
	// (heads×headDim, already rotated) over cache positions 0..position of each row,
	// scaled by 1/sqrt(headDim); query head h uses key-value head h/(heads/kvHeads).
	// Positions at or after start+T from earlier steps are ignored, so a lower start
	// rewinds the cache.
	Attention(dst, q, k, v, cache Tensor)
	// SiLUMul sets dst = silu(gate) * up elementwise; dst may be gate or up.
	SiLUMul(dst, gate, up Tensor)
	// Add sets dst = a + b elementwise; dst may be a or b.
	Add(dst, a, b Tensor)
}

// LastRowOps is implemented by Ops that can run a product on the last row of the
// batch alone: the output layer of a step whose caller reads only that row's logits
// (a prompt fed to generate its next token), which at 512 rows of a 65B model is
// ~268 GFLOP of the step's work otherwise.
type LastRowOps interface {
	// MatMulLast sets the last row of dst as MatMul(dst, x, w) would (up to the
	// rounding of another kernel's order of sums); dst's other rows are undefined
	// after it.
	MatMulLast(dst, x, w Tensor)
}

// RowOps is implemented by Ops that can run a product on some rows of the batch
// alone: the output layer of a PagedBackend.RunBatch step, whose caller reads or
// samples only some rows' logits (each decode row, a prompt chunk's last row, none
// of a chunk before it).
type RowOps interface {
	// MatMulRows sets the listed rows of dst (ascending, each once; none at all is
	// allowed) as MatMul(dst, x, w) would (up to the rounding of another kernel's
	// order of sums); dst's other rows are undefined after it. The rows may differ
	// from one step to the next, so a backend that records a step's operations to
	// replay them must take the rows as data.
	MatMulRows(dst, x, w Tensor, rows []int)
}

// Tensor is a backend-owned buffer: a weight, an activation or a cache. Only the
// backend that made it can use it.
type Tensor interface {
	// Dims reports the logical shape: rows and columns (for a QuantWeight, in and out;
	// for a cache, positions and kvHeads×headDim).
	Dims() (rows, cols int)
}

// Shape is what a backend must hold for one model.
type Shape struct {
	Hidden, Intermediate int
	Layers               int
	Heads, KVHeads       int
	HeadDim              int
	Vocab                int
	Context              int   // positions in the KV cache
	MaxBatch             int   // rows an activation buffer holds
	WeightBytes          int64 // sum of the checkpoint bytes passed to LoadDense and LoadQuant
}

// DenseWeight is an unquantized float16 tensor: embeddings, norms, lm_head.
type DenseWeight struct {
	Name       string // the checkpoint's tensor name, for errors
	Rows, Cols int    // a vector is 1×n
	F16        []byte // Rows×Cols little-endian IEEE float16, row-major
}

// QuantWeight is one GPTQ linear layer as AutoGPTQ stores it (REFERENCE.md section 1):
// the byte slices are the little-endian tensor data straight from the checkpoint.
type QuantWeight struct {
	Name      string // the layer's prefix, e.g. model.layers.0.self_attn.q_proj
	In, Out   int
	Bits      int // 2, 3, 4 or 8
	GroupSize int // rows per group; In when the checkpoint has no groups (-1)
	QWeight   []byte
	QZeros    []byte
	Scales    []byte // float16 [groups, Out]
	GIdx      []byte // int32 [In]: the group of each input row (act-order permutes it)
	// ZeroOffset is added to each stored zero: 1 for the GPTQ v1 format (the packer
	// stored zero-1), 0 for gptq_v2.
	ZeroOffset int32
}

// Groups is the number of quantization groups.
func (w QuantWeight) Groups() int { return (w.In + w.GroupSize - 1) / w.GroupSize }

// ErrNoMemory is returned (wrapped, with the numbers) when a model does not fit.
var ErrNoMemory = errors.New("model does not fit in device memory")

// ErrUnknownBackend is returned (wrapped) by OpenBackend for a name no backend
// registered: one this build lacks (cuda without the cuda build tag) or a typo.
var ErrUnknownBackend = errors.New("unknown backend")

// ErrNoDevice is returned (wrapped) by OpenBackend for a device ordinal the machine
// does not have, and for "auto" when no backend's probe finds a device.
var ErrNoDevice = errors.New("no such device")

// A Driver opens backends of one kind. Backends register theirs from init with
// RegisterBackend; a program selects backends by importing them (blank imports).
//
// The registry is the whole API a command needs to turn a device spec into a
// backend: parse "auto", "cpu", "cuda" or "cuda:N" into a name and an ordinal, then
// call OpenBackend(ctx, name, ordinal). OpenBackend checks the ordinal against the
// driver's Probe, so "cuda:3" on a machine with one GPU fails with
// "cuda:3: no such device (this machine has 1)" (errors.Is ErrNoDevice) before
// anything is opened. Device numbering is the driver's: CUDA's follows
// CUDA_VISIBLE_DEVICES, so with CUDA_VISIBLE_DEVICES=2,3 "cuda:0" is physical GPU 2.
type Driver struct {
	// Name is what a device spec calls the backend: "cpu", "cuda".
	Name string
	// Priority orders the drivers for "auto": the highest-priority driver whose
	// Probe finds a device is opened. The CPU backend's is 0, the CUDA backend's 100.
	Priority int
	// Probe counts the devices this driver can open here; 0 or an error means none
	// (no GPU, no driver). It must be cheap and leave nothing open. Nil means one
	// device, always there (the CPU).
	Probe func(ctx context.Context) (devices int, err error)
	// Open opens device ordinal, 0 <= ordinal < the Probe's count.
	Open func(ctx context.Context, ordinal int) (Backend, error)
}

var (
	backendsMu sync.Mutex
	backends   = map[string]Driver{}
)

// RegisterBackend makes a backend available by name; backends call it from init. It
// panics on a second driver of the same name or one without Name or Open.
func RegisterBackend(d Driver) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if d.Name == "" || d.Name == Auto || d.Open == nil {
		panic(fmt.Sprintf("engine: bad backend driver %+v", d))
	}
	if _, dup := backends[d.Name]; dup {
		panic("engine: backend registered twice: " + d.Name)
	}
	backends[d.Name] = d
}

// Auto is the backend name that lets the registry choose (see Driver.Priority).
const Auto = "auto"

// OpenBackend opens device ordinal of the named backend; name Auto (or "") opens
// the highest-priority backend whose probe finds a device.
func OpenBackend(ctx context.Context, name string, ordinal int) (Backend, error) {
	if name == "" || name == Auto {
		d, err := pick(ctx)
		if err != nil {
			return nil, err
		}
		return open(ctx, d, ordinal)
	}
	backendsMu.Lock()
	d, ok := backends[name]
	backendsMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (this build has %s)", ErrUnknownBackend, name, strings.Join(Backends(), ", "))
	}
	return open(ctx, d, ordinal)
}

// PickBackend names the backend Auto opens here.
func PickBackend(ctx context.Context) (string, error) {
	d, err := pick(ctx)
	return d.Name, err
}

func pick(ctx context.Context) (Driver, error) {
	var tried []string
	for _, d := range drivers() {
		n, err := probe(ctx, d)
		if err == nil && n > 0 {
			return d, nil
		}
		if err == nil {
			err = errors.New("no device")
		}
		tried = append(tried, fmt.Sprintf("%s: %v", d.Name, err))
	}
	return Driver{}, fmt.Errorf("auto: %w: every backend's probe failed (%s)", ErrNoDevice, strings.Join(tried, "; "))
}

func probe(ctx context.Context, d Driver) (int, error) {
	if d.Probe == nil {
		return 1, nil
	}
	return d.Probe(ctx)
}

func open(ctx context.Context, d Driver, ordinal int) (Backend, error) {
	n, err := probe(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", d.Name, ordinal, err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%s:%d: %w (this machine has %d)", d.Name, ordinal, ErrNoDevice, n)
	}
	b, err := d.Open(ctx, ordinal)
	if err != nil {
		return nil, fmt.Errorf("open backend %s:%d: %w", d.Name, ordinal, err)
	}
	return b, nil
}

// drivers lists the registered drivers, highest priority first (then by name).
func drivers() []Driver {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	ds := make([]Driver, 0, len(backends))
	for _, d := range backends {
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b Driver) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Name, b.Name))
	})
	return ds
}

// Backends lists the registered backends' names in the order Auto tries them.
func Backends() []string {
	var names []string
	for _, d := range drivers() {
		names = append(names, d.Name)
	}
	return names
}
