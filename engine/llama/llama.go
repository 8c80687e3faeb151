// Package llama is the LLaMA forward pass (RMSNorm, rotate-half RoPE, attention with
// a KV cache and grouped-query heads, SiLU MLP, lm_head), written once against
// engine.Backend so every backend computes the same model. Loaded with
// Options.Paged on an engine.PagedBackend, the model has a paged key-value cache
// shared by many sequences and runs steps of rows from several of them
// (ForwardBatch, or ForwardBatchSampled to pick their tokens on the device), for
// the continuous-batching scheduler of engine/batch.
package llama

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
)

// Options tune loading.
type Options struct {
	// Context caps the KV cache's positions (0: the config's max_position_embeddings).
	Context int
	// MaxBatch is the most tokens one backend step processes (0: the backend's
	// engine.PromptRows, else 256); longer prompts are fed in chunks.
	MaxBatch int
	// Progress, when set, is called after each weight with the bytes loaded so far
	// and the total.
	Progress func(done, total int64)
	// Paged, when set and the backend is an engine.PagedBackend, gives the model a
	// paged key-value cache shared by many sequences instead of one sequence's
	// cache: the model then serves ForwardBatch, not Forward. On a backend without
	// the capability it is ignored (see Model.Paged).
	Paged *Paged
}

// Paged sizes a paged key-value cache.
type Paged struct {
	// BlockSize is the positions per block (0: 16).
	BlockSize int
	// Blocks is the pool's size; 0 sizes it from the memory the backend has free
	// after the weights: Share of it (0: the backend's KVShare), at most Sequences
	// full contexts (Sequences 0: no cap). The pool holds at least one full context.
	Blocks    int
	Share     float64
	Sequences int
}

// DefaultBlockSize is the positions per block of a paged cache unless configured.
const DefaultBlockSize = 16

// Model is a LLaMA loaded on a backend. It implements engine.Model.
type Model struct {
	cfg      gptq.Config
	b        engine.Backend
	ck       *gptq.Checkpoint
	ctxLen   int
	maxBatch int
	fed      int // positions in the cache

	// paged is the backend where the model has a paged cache of blocks blocks of
	// blockSize positions, else nil.
	paged             engine.PagedBackend
	blocks, blockSize int

	// stepBytes is what one decode step reads besides the cache: every weight,
	// scale and zero, the norms, the output layer and one embedding row.
	stepBytes int64
	// weights is the multiply-adds of one token's products: In·Out of every linear
	// and the output layer's Vocab·Hidden.
	weights int64

	embed, norm, head engine.Tensor
	layers            []layer
	// Scratch activations, MaxBatch rows each.
	x, h, q, k, v, att, gate, up, logits engine.Tensor
}

type layer struct {
	attnNorm, mlpNorm engine.Tensor
	lin               [gptq.NumLinears]engine.Tensor
	cache             engine.Tensor
}

var _ engine.Model = (*Model)(nil)

// Open opens the checkpoint in dir and loads it on b. The model owns b and the
// checkpoint from then on: Close releases both.
func Open(ctx context.Context, dir string, b engine.Backend, opt Options) (*Model, error) {
	ck, err := gptq.Open(dir)
	if err != nil {
		return nil, err
	}
	m, err := Load(ctx, ck, b, opt)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// Load loads an open checkpoint on b; the model takes ownership of both.
func Load(ctx context.Context, ck *gptq.Checkpoint, b engine.Backend, opt Options) (*Model, error) {
	c := ck.Config
	m := &Model{cfg: c, b: b, ck: ck, ctxLen: c.Context, maxBatch: 256}
	if opt.Context > 0 && opt.Context < c.Context {
		m.ctxLen = opt.Context
	}
	if pr, ok := b.(engine.PromptRows); ok {
		m.maxBatch = pr.DefaultMaxBatch()
	}
	if opt.MaxBatch > 0 {
		m.maxBatch = opt.MaxBatch
	}
	m.maxBatch = min(m.maxBatch, m.ctxLen)
	headName := gptq.HeadName
	if c.TieEmbeddings && !ck.Has(headName) {
		headName = gptq.EmbedName
	}
	// Check every tensor first, so a bad checkpoint fails before the backend
	// allocates anything, and the total is known for Reserve and progress.
	type item struct {
		dense *engine.DenseWeight
		quant *engine.QuantWeight
		dst   *engine.Tensor
	}
	var items []item
	var total int64
	dense := func(dst *engine.Tensor, name string, rows, cols int) error {
		w, err := ck.Dense(name, rows, cols)
		if err != nil {
			return err
		}
		total += int64(len(w.F16))
		if name != gptq.EmbedName || dst == &m.head { // a token reads one row of the embedding
			m.stepBytes += int64(len(w.F16))
		}
		items = append(items, item{dense: &w, dst: dst})
		return nil
	}
	m.layers = make([]layer, c.Layers)
	if err := dense(&m.embed, gptq.EmbedName, c.Vocab, c.Hidden); err != nil {
		return nil, err
	}
	for i := range m.layers {
		l := &m.layers[i]
		if err := dense(&l.attnNorm, gptq.LayerNorm(i, false), 1, c.Hidden); err != nil {
			return nil, err
		}
		if err := dense(&l.mlpNorm, gptq.LayerNorm(i, true), 1, c.Hidden); err != nil {
			return nil, err
		}
		for which := range gptq.NumLinears {
			w, err := ck.Linear(c.Linear(i, which))
			if err != nil {
				return nil, err
			}
			total += int64(len(w.QWeight) + len(w.QZeros) + len(w.Scales) + len(w.GIdx))
			m.stepBytes += int64(len(w.QWeight) + len(w.QZeros) + len(w.Scales))
			m.weights += int64(w.In) * int64(w.Out)
			items = append(items, item{quant: &w, dst: &l.lin[which]})
		}
	}
	m.stepBytes += int64(c.Hidden) * 2 // the token's embedding row
	m.weights += int64(c.Vocab) * int64(c.Hidden)
	if err := dense(&m.norm, gptq.NormName, 1, c.Hidden); err != nil {
		return nil, err
	}
	if err := dense(&m.head, headName, c.Vocab, c.Hidden); err != nil {
		return nil, err
	}
	shape := engine.Shape{
		Hidden: c.Hidden, Intermediate: c.Intermediate, Layers: c.Layers, Heads: c.Heads,
		KVHeads: c.KVHeads, HeadDim: c.HeadDim(), Vocab: c.Vocab, Context: m.ctxLen,
		MaxBatch: m.maxBatch, WeightBytes: total,
	}
	if err := b.Reserve(ctx, shape); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", ck.Dir, b.Name(), err)
	}
	var done int64
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if it.dense != nil {
			*it.dst, err = b.LoadDense(ctx, *it.dense)
			done += int64(len(it.dense.F16))
		} else {
			w := it.quant
			*it.dst, err = b.LoadQuant(ctx, *w)
			done += int64(len(w.QWeight) + len(w.QZeros) + len(w.Scales) + len(w.GIdx))
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", ck.Dir, err)
		}
		if opt.Progress != nil {
			opt.Progress(done, total)
		}
	}
	kv := c.KVHeads * c.HeadDim()
	acts := []struct {
		dst  *engine.Tensor
		cols int
	}{
		{&m.x, c.Hidden}, {&m.h, c.Hidden}, {&m.q, c.Hidden}, {&m.k, kv}, {&m.v, kv},
		{&m.att, c.Hidden}, {&m.gate, c.Intermediate}, {&m.up, c.Intermediate}, {&m.logits, c.Vocab},
	}
	for _, a := range acts {
		t, err := b.NewActivation(ctx, m.maxBatch, a.cols)
		if err != nil {
			return nil, fmt.Errorf("%s: activations: %w", b.Name(), err)
		}
		*a.dst = t
	}
	if pb, ok := b.(engine.PagedBackend); ok && opt.Paged != nil {
		if err := m.newPaged(ctx, pb, *opt.Paged); err != nil {
			return nil, err
		}
		return m, nil
	}
	for i := range m.layers {
		t, err := b.NewCache(ctx, c.KVHeads, c.HeadDim())
		if err != nil {
			return nil, fmt.Errorf("%s: cache of layer %d: %w", b.Name(), i, err)
		}
		m.layers[i].cache = t
	}
	return m, nil
}

// newPaged sizes the block pool (see Paged) and allocates each layer's paged cache.
func (m *Model) newPaged(ctx context.Context, pb engine.PagedBackend, p Paged) error {
	c := m.cfg
	bs := p.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < 0 || p.Blocks < 0 || p.Share < 0 || p.Share > 1 || p.Sequences < 0 {
		return fmt.Errorf("paged cache: block size %d, blocks %d, share %g, sequences %d: want block size and blocks >= 0, share in [0, 1]", p.BlockSize, p.Blocks, p.Share, p.Sequences)
	}
	perContext := (m.ctxLen + bs - 1) / bs
	// A block holds keys and values of every layer, each element of the
	// backend's size (float32 on the CPU, float16 on CUDA).
	blockBytes := int64(c.Layers) * 2 * int64(bs) * int64(c.KVHeads*c.HeadDim()) * int64(pb.KVValueBytes())
	blocks := p.Blocks
	if blocks == 0 {
		share := p.Share
		if share == 0 {
			share = pb.KVShare()
		}
		free, ok := pb.KVMemory()
		if !ok {
			free = int64(perContext) * blockBytes // one context, as the one-sequence cache
		}
		blocks = int(share * float64(free) / float64(blockBytes))
		if p.Sequences > 0 {
			blocks = min(blocks, p.Sequences*perContext)
		}
		if ok && blocks < perContext && int64(perContext)*blockBytes <= free {
			blocks = perContext
		}
	}
	if blocks < perContext {
		return fmt.Errorf("paged cache: %w: %d blocks of %d positions (%.1f MiB each) hold less than one context of %d positions",
			engine.ErrNoMemory, blocks, bs, float64(blockBytes)/(1<<20), m.ctxLen)
	}
	for i := range m.layers {
		t, err := pb.NewPagedCache(ctx, c.KVHeads, c.HeadDim(), blocks, bs)
		if err != nil {
			return fmt.Errorf("%s: paged cache of layer %d: %w", pb.Name(), i, err)
		}
		m.layers[i].cache = t
	}
	m.paged, m.blocks, m.blockSize = pb, blocks, bs
	return nil
}

// Paged reports the paged cache's pool: blocks of blockSize positions; 0, 0 when
// the model has a one-sequence cache (Options.Paged unset, or a backend without
// engine.PagedBackend).
func (m *Model) Paged() (blocks, blockSize int) { return m.blocks, m.blockSize }

// MaxBatch is the most rows one ForwardBatch takes.
func (m *Model) MaxBatch() int { return m.maxBatch }

// ForwardBatch runs one step of rows from several sequences on the paged cache
// (see engine.PagedBackend) and returns the logits of the rows listed in want, in
// that order, len(want)×VocabSize() floats.
func (m *Model) ForwardBatch(ctx context.Context, b engine.Batch, want []int) ([]float32, error) {
	if err := m.runBatch(ctx, b, want, nil); err != nil {
		return nil, err
	}
	return m.readRows(ctx, want)
}

// SamplesBatchOnDevice reports whether ForwardBatchSampled can pick tokens on the
// backend: a paged cache on an engine.BatchDeviceSampler.
func (m *Model) SamplesBatchOnDevice() bool {
	_, ok := m.b.(engine.BatchDeviceSampler)
	return ok && m.paged != nil
}

// ForwardBatchSampled runs one step as ForwardBatch does, returns the logits of the
// rows in want, and picks the next token of each row in pick on the device (see
// engine.BatchDeviceSampler: ids[i] is pick[i]'s), so only the ids of those rows
// come back. A row may not be both wanted and picked. When only some picked rows
// fail, err is an engine.RowErrors and the logits and the other ids are valid.
func (m *Model) ForwardBatchSampled(ctx context.Context, b engine.Batch, want []int, pick []engine.RowSample) (logits []float32, ids []int, err error) {
	ds, ok := m.b.(engine.BatchDeviceSampler)
	if !ok {
		return nil, nil, fmt.Errorf("backend %s does not sample rows on the device", m.b.Name())
	}
	if err := m.runBatch(ctx, b, want, pick); err != nil {
		return nil, nil, err
	}
	// The wanted rows first: the sampler may overwrite the rows it picks from.
	if logits, err = m.readRows(ctx, want); err != nil {
		return nil, nil, err
	}
	if len(pick) == 0 {
		return logits, nil, nil
	}
	ids, err = ds.SampleRows(ctx, m.logits, pick)
	var re engine.RowErrors
	if err != nil && !errors.As(err, &re) {
		return nil, nil, err
	}
	return logits, ids, err
}

// runBatch checks a ForwardBatch step (and its picked rows, which must be rows of
// the step other than the wanted ones, each once) and runs it.
func (m *Model) runBatch(ctx context.Context, b engine.Batch, want []int, pick []engine.RowSample) error {
	if m.paged == nil {
		return fmt.Errorf("forward batch: the model has no paged cache")
	}
	n, vocab := len(b.IDs), m.cfg.Vocab
	if n == 0 || n > m.maxBatch {
		return fmt.Errorf("forward batch: %d rows (max batch %d)", n, m.maxBatch)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("forward batch: %w: row %d is id %d (vocabulary %d)", engine.ErrIDRange, i, id, vocab)
		}
	}
	for _, r := range want {
		if r < 0 || r >= n {
			return fmt.Errorf("forward batch: logits of row %d of %d", r, n)
		}
	}
	if len(pick) > 0 {
		taken := make([]bool, n)
		for _, r := range want {
			taken[r] = true
		}
		for _, p := range pick {
			switch {
			case p.Row < 0 || p.Row >= n:
				return fmt.Errorf("forward batch: sampling row %d of %d", p.Row, n)
			case taken[p.Row]:
				return fmt.Errorf("forward batch: row %d both wanted and picked, or picked twice", p.Row)
			}
			taken[p.Row] = true
		}
	}
	rows := make([]int, 0, len(want)+len(pick)) // the rows whose logits are read or sampled
	rows = append(rows, want...)
	for _, p := range pick {
		rows = append(rows, p.Row)
	}
	slices.Sort(rows)
	rows = slices.Compact(rows)
	return m.paged.RunBatch(ctx, b, m.stepRows(rows))
}

// readRows copies the logits of the rows in want back, in that order.
func (m *Model) readRows(ctx context.Context, want []int) ([]float32, error) {
	vocab := m.cfg.Vocab
	out := make([]float32, len(want)*vocab)
	for i, r := range want {
		if err := m.b.Read(ctx, out[i*vocab:(i+1)*vocab], m.logits, r, 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// step issues the operations of one forward pass, the output layer on every row; it
// depends on nothing but the model's tensors, so it is the same for every call (see
// engine.Backend.Run).
func (m *Model) step(o engine.Ops) { m.pass(o, head{}) }

// stepLast is step with the output layer on the last row alone where the backend
// can (engine.LastRowOps), for callers that read only that row's logits: a prompt
// fed to pick the token after it, and each chunk before its last.
func (m *Model) stepLast(o engine.Ops) { m.pass(o, head{last: true}) }

// stepRows is step with the output layer on rows alone where the backend can
// (engine.RowOps): a RunBatch step, whose caller reads or samples only those rows.
func (m *Model) stepRows(rows []int) func(engine.Ops) {
	return func(o engine.Ops) { m.pass(o, head{some: true, rows: rows}) }
}

// head is the rows a pass needs the output layer's logits of: every row (the zero
// head), the last alone (last), or the listed ones, ascending (some; rows may be
// empty).
type head struct {
	last, some bool
	rows       []int
}

func (m *Model) pass(o engine.Ops, out head) {
	c := m.cfg
	eps, theta, hd := float32(c.NormEps), float32(c.RopeTheta), c.HeadDim()
	o.Embed(m.x, m.embed)
	for i := range m.layers {
		l := &m.layers[i]
		o.RMSNorm(m.h, m.x, l.attnNorm, eps)
		o.MatMul(m.q, m.h, l.lin[gptq.Q])
		o.MatMul(m.k, m.h, l.lin[gptq.K])
		o.MatMul(m.v, m.h, l.lin[gptq.V])
		o.RoPE(m.q, hd, theta)
		o.RoPE(m.k, hd, theta)
		o.Attention(m.att, m.q, m.k, m.v, l.cache)
		o.MatMul(m.h, m.att, l.lin[gptq.O])
		o.Add(m.x, m.x, m.h)
		o.RMSNorm(m.h, m.x, l.mlpNorm, eps)
		o.MatMul(m.gate, m.h, l.lin[gptq.Gate])
		o.MatMul(m.up, m.h, l.lin[gptq.Up])
		o.SiLUMul(m.gate, m.gate, m.up)
		o.MatMul(m.h, m.gate, l.lin[gptq.Down])
		o.Add(m.x, m.x, m.h)
	}
	o.RMSNorm(m.h, m.x, m.norm, eps)
	if lr, ok := o.(engine.LastRowOps); ok && out.last {
		lr.MatMulLast(m.logits, m.h, m.head)
		return
	}
	if rr, ok := o.(engine.RowOps); ok && out.some {
		rr.MatMulRows(m.logits, m.h, m.head, out.rows)
		return
	}
	o.MatMul(m.logits, m.h, m.head)
}

// Forward implements engine.Model: it feeds ids at positions start.. in chunks of at
// most MaxBatch tokens and returns the logits of the last `last` ids.
func (m *Model) Forward(ctx context.Context, ids []int, start, last int) ([]float32, error) {
	n, vocab := len(ids), m.cfg.Vocab
	if last < 1 || last > n {
		return nil, fmt.Errorf("forward: %d ids, asked for the logits of the last %d", n, last)
	}
	out := make([]float32, last*vocab)
	step := m.step
	if last == 1 {
		step = m.stepLast
	}
	err := m.feed(ctx, ids, start, step, func(lo, hi int) error {
		first := max(lo, n-last)
		if first >= hi {
			return nil
		}
		dst := out[(first-(n-last))*vocab : (hi-(n-last))*vocab]
		return m.b.Read(ctx, dst, m.logits, first-lo, hi-first)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeBytes is the memory one decode step at position pos must read at the
// least: every weight, scale and zero once (the output layer included, one row
// of the embedding; act-order's g_idx not, as a kernel reordered at load needs
// none) and the keys and values of positions 0..pos of every layer, at the
// backend's cache element size. Over the device's read bandwidth it is the
// decode floor agent bench reports against.
func (m *Model) DecodeBytes(pos int) int64 { return m.stepBytes + m.KVBytes(pos) }

// KVBytes is the keys and values of positions 0..pos of every layer, at the
// backend's cache element size: what a decode step reads of each sequence's cache,
// so a step of n sequences at pos reads DecodeBytes(pos) + (n-1)·KVBytes(pos).
func (m *Model) KVBytes(pos int) int64 {
	value := 4
	if pb, ok := m.b.(engine.PagedBackend); ok {
		value = pb.KVValueBytes()
	}
	return int64(m.cfg.Layers) * 2 * int64(pos+1) * int64(m.cfg.KVHeads*m.cfg.HeadDim()) * int64(value)
}

// Weights is the multiply-adds a token's products do: In·Out of every linear and
// Vocab·Hidden of the output layer (attention's, which grow with the position, not
// counted). A prompt of n tokens does 2·n·Weights floating-point operations in its
// products, over the tensor-core rate the prefill floor agent bench reports against.
func (m *Model) Weights() int64 { return m.weights }

// TensorRate is the backend's measured tensor-core rate (engine.TensorProber); ok
// is false for a backend that cannot measure it.
func (m *Model) TensorRate(ctx context.Context) (flopsPerSecond float64, how string, ok bool, err error) {
	p, ok := m.b.(engine.TensorProber)
	if !ok {
		return 0, "", false, nil
	}
	rate, how, err := p.TensorRate(ctx)
	return rate, how, true, err
}

// ReadBandwidth is the backend's measured read bandwidth (engine.BandwidthProber);
// ok is false for a backend that cannot measure it.
func (m *Model) ReadBandwidth(ctx context.Context) (bytesPerSecond float64, how string, ok bool, err error) {
	p, ok := m.b.(engine.BandwidthProber)
	if !ok {
		return 0, "", false, nil
	}
	bw, how, err := p.ReadBandwidth(ctx)
	return bw, how, true, err
}

// BackendName names the backend the model runs on, e.g. "cpu" or "cuda".
func (m *Model) BackendName() string { return m.b.Name() }

// SamplesOnDevice reports whether ForwardSample can pick tokens on the backend.
func (m *Model) SamplesOnDevice() bool {
	_, ok := m.b.(engine.DeviceSampler)
	return ok
}

// ForwardSample feeds ids like Forward, then picks the next token from the last
// one's logits on the device (see engine.DeviceSampler), so only the id comes back.
func (m *Model) ForwardSample(ctx context.Context, ids []int, start int, s engine.Sampling, history []int32, u float64) (int, error) {
	ds, ok := m.b.(engine.DeviceSampler)
	if !ok {
		return 0, fmt.Errorf("backend %s does not sample on the device", m.b.Name())
	}
	lastRow := 0
	if err := m.feed(ctx, ids, start, m.stepLast, func(lo, hi int) error { lastRow = hi - lo - 1; return nil }); err != nil {
		return 0, err
	}
	return ds.Sample(ctx, m.logits, lastRow, s, history, u)
}

// SamplesRowsOnDevice reports whether ForwardSampleRows can pick tokens on the
// backend: an engine.BatchDeviceSampler, and the model's own one-sequence cache.
func (m *Model) SamplesRowsOnDevice() bool {
	_, ok := m.b.(engine.BatchDeviceSampler)
	return ok && m.paged == nil
}

// ForwardSampleRows feeds ids like Forward, then picks a token after each of the
// rows in pick on the device (engine.BatchDeviceSampler: pick[i].Row is an index
// into ids, its token the choice after ids[:Row+1]), so only the ids come back:
// a speculative step's verification. The rows must lie among the last MaxBatch
// ids, which are fed as the last chunk. As SampleRows, when only some rows fail
// the error is an engine.RowErrors and the other ids are valid.
func (m *Model) ForwardSampleRows(ctx context.Context, ids []int, start int, pick []engine.RowSample) ([]int, error) {
	ds, ok := m.b.(engine.BatchDeviceSampler)
	if !ok {
		return nil, fmt.Errorf("backend %s does not sample rows on the device", m.b.Name())
	}
	n := len(ids)
	first := max(n-m.maxBatch, 0) // where the last chunk begins
	rows := make([]engine.RowSample, len(pick))
	for i, p := range pick {
		if p.Row < first || p.Row >= n {
			return nil, fmt.Errorf("forward: sampling row %d of %d ids (the last %d are sampled: %d..%d)", p.Row, n, m.maxBatch, first, n-1)
		}
		rows[i] = p
		rows[i].Row -= first
	}
	nop := func(int, int) error { return nil }
	if first > 0 {
		if err := m.feed(ctx, ids[:first], start, m.stepLast, nop); err != nil {
			return nil, err
		}
	}
	if err := m.feed(ctx, ids[first:], start+first, m.step, nop); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return ds.SampleRows(ctx, m.logits, rows)
}

// feed runs ids through the model in chunks, each a Run of step, calling after(lo,
// hi) once the logits of ids[lo:hi] are in m.logits' first rows (the last one's
// alone with stepLast).
func (m *Model) feed(ctx context.Context, ids []int, start int, step func(engine.Ops), after func(lo, hi int) error) error {
	n := len(ids)
	switch {
	case m.paged != nil:
		return fmt.Errorf("forward: the model has a paged cache (use ForwardBatch)")
	case n == 0:
		return fmt.Errorf("forward: no ids")
	case start < 0 || start > m.fed:
		return fmt.Errorf("forward: start %d, but %d positions are cached", start, m.fed)
	case start+n > m.ctxLen:
		return fmt.Errorf("%w: %d positions, context %d", engine.ErrContextLength, start+n, m.ctxLen)
	}
	batch := make([]int32, n)
	for i, id := range ids {
		if id < 0 || id >= m.cfg.Vocab {
			return fmt.Errorf("forward: id %d at %d outside the vocabulary of %d", id, i, m.cfg.Vocab)
		}
		batch[i] = int32(id)
	}
	m.fed = min(m.fed, start) // a failure below leaves the cache valid up to start
	for lo := 0; lo < n; lo += m.maxBatch {
		hi := min(lo+m.maxBatch, n)
		if err := m.b.Run(ctx, batch[lo:hi], start+lo, step); err != nil {
			return err
		}
		m.fed = start + hi
		if err := after(lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// VocabSize implements engine.Model.
func (m *Model) VocabSize() int { return m.cfg.Vocab }

// ContextLength implements engine.Model: the positions the cache holds.
func (m *Model) ContextLength() int { return m.ctxLen }

// Config is the checkpoint's architecture.
func (m *Model) Config() gptq.Config { return m.cfg }

// Close frees the backend, then unmaps the checkpoint.
func (m *Model) Close() error {
	err := m.b.Close()
	if cerr := m.ck.Close(); err == nil {
		err = cerr
	}
	return err
}
