//go:build cuda

package cuda

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

var _ engine.PagedBackend = (*Backend)(nil)

// pool is the geometry every paged cache of a backend shares (the model's layers
// take one each), fixed by the first NewPagedCache, and the device buffer RunBatch
// writes a step's rows and block tables into: [MaxBatch] positions, [MaxBatch]
// sequences, then [MaxBatch][stride] block tables, stride being the blocks of one
// full context. The kernels read the rows from there (not from their arguments), so
// a step's launches depend only on its number of rows and a captured graph replays
// for any positions and tables.
type pool struct {
	blocks, blockSize int
	stride            int
	buf               cu.DevicePtr
	pos, seq, tables  cu.DevicePtr // the parts of buf
	host              []int32      // the staging copy of buf
}

// kvReserve is the device memory KVMemory leaves out of what is free: CUDA graphs,
// module data and the driver's own allocations made after the cache.
const kvReserve = 1 << 30

// KVMemory reports the device memory free now, less a reserve of 1 GiB (cuMemGetInfo).
func (b *Backend) KVMemory() (int64, bool) {
	var free int64
	err := b.th.Do(context.Background(), func() error {
		f, _, err := cu.MemInfo()
		free = f
		return err
	})
	if err != nil {
		return 0, false
	}
	return max(0, free-kvReserve), true
}

// KVShare implements engine.PagedBackend: 90% of the device memory free after the
// weights and the step's buffers (Reserve), as vLLM's default of its memory; the
// rest and kvReserve take CUDA graphs and the driver's later allocations. At one
// half, 65B on an H200 (33.5 GB of weights) had 1,368 blocks of 16 positions, 34
// sequences of 640 (BENCHMARKS.md, "agent serve and agent bench with ExLlamaV2").
func (b *Backend) KVShare() float64 { return 0.9 }

// KVValueBytes implements engine.PagedBackend: the paged cache holds float16.
func (b *Backend) KVValueBytes() int { return 2 }

// NewPagedCache returns a layer's float16 paged cache: [2][blocks×blockSize][kvHeads]
// [headDim], keys then values. Every paged cache of a backend has the same blocks and
// blockSize (one pool, one block table per sequence for all layers).
func (b *Backend) NewPagedCache(ctx context.Context, kvHeads, headDim, blocks, blockSize int) (engine.Tensor, error) {
	s := b.shape
	switch {
	case !b.reserved:
		return nil, errors.New("cuda: NewPagedCache before Reserve")
	case kvHeads != s.KVHeads || headDim != s.HeadDim:
		return nil, fmt.Errorf("cuda: paged cache of %d×%d for a model of %d kv heads of %d", kvHeads, headDim, s.KVHeads, s.HeadDim)
	case blocks <= 0 || blockSize <= 0 || int64(blocks)*int64(blockSize) > 1<<31-1:
		return nil, fmt.Errorf("cuda: paged cache of %d blocks of %d positions", blocks, blockSize)
	case b.pool != nil && (b.pool.blocks != blocks || b.pool.blockSize != blockSize):
		return nil, fmt.Errorf("cuda: paged cache of %d blocks of %d positions beside caches of %d blocks of %d (one pool per backend)", blocks, blockSize, b.pool.blocks, b.pool.blockSize)
	}
	slots := int64(blocks) * int64(blockSize)
	t := &tensor{rows: int(slots), cols: kvHeads * headDim, kind: paged}
	err := b.th.Do(ctx, func() (err error) {
		if b.pool == nil {
			p := &pool{blocks: blocks, blockSize: blockSize, stride: ceil(s.Context, blockSize)}
			p.host = make([]int32, s.MaxBatch*(2+p.stride))
			if p.buf, err = b.dev.alloc("batch rows and block tables", int64(4*len(p.host))); err != nil {
				return err
			}
			p.pos, p.seq, p.tables = p.buf, p.buf+cu.DevicePtr(4*s.MaxBatch), p.buf+cu.DevicePtr(8*s.MaxBatch)
			b.pool = p
		}
		t.p, err = b.dev.alloc(fmt.Sprintf("paged KV cache %d×%d×%d×%d", blocks, blockSize, kvHeads, headDim), 2*slots*int64(t.cols)*2)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// checkRows checks a RunBatch step against the shape and the pool: every row's
// sequence has a table, every table is within a context and the pool, every row's
// position within the context and its table.
func (b *Backend) checkRows(bt engine.Batch) error {
	s, p := b.shape, b.pool
	n := len(bt.IDs)
	switch {
	case !b.reserved:
		return errors.New("cuda: RunBatch before Reserve")
	case p == nil:
		return errors.New("cuda: RunBatch without a paged cache")
	case n == 0 || n > s.MaxBatch || len(bt.Pos) != n || len(bt.Seq) != n:
		return fmt.Errorf("cuda: batch of %d ids, %d positions, %d sequences (max batch %d)", n, len(bt.Pos), len(bt.Seq), s.MaxBatch)
	case len(bt.Tables) > s.MaxBatch:
		return fmt.Errorf("cuda: %d block tables for a max batch of %d", len(bt.Tables), s.MaxBatch)
	}
	for i, tab := range bt.Tables {
		if len(tab) > p.stride {
			return fmt.Errorf("cuda: block table %d of %d blocks exceeds a context (%d blocks)", i, len(tab), p.stride)
		}
		for _, blk := range tab {
			if blk < 0 || int(blk) >= p.blocks {
				return fmt.Errorf("cuda: block table %d names block %d of a pool of %d", i, blk, p.blocks)
			}
		}
	}
	for i := range n {
		id, pos, sq := bt.IDs[i], bt.Pos[i], bt.Seq[i]
		switch {
		case id < 0 || int(id) >= s.Vocab:
			return fmt.Errorf("cuda: id %d (row %d) outside the vocabulary [0, %d)", id, i, s.Vocab)
		case pos < 0 || int(pos) >= s.Context:
			return fmt.Errorf("cuda: row %d at position %d (context %d)", i, pos, s.Context)
		case sq < 0 || int(sq) >= len(bt.Tables):
			return fmt.Errorf("cuda: row %d of sequence %d (%d block tables)", i, sq, len(bt.Tables))
		case int(pos)/p.blockSize >= len(bt.Tables[sq]):
			return fmt.Errorf("cuda: row %d at position %d past its table of %d blocks of %d", i, pos, len(bt.Tables[sq]), p.blockSize)
		}
	}
	return nil
}

// RunBatch uploads the step's ids, positions, sequences and block tables, then issues
// step's operations as Run does; the program is captured and replayed per number of
// rows apart from Run's.
func (b *Backend) RunBatch(ctx context.Context, bt engine.Batch, step func(engine.Ops)) error {
	if err := b.checkRows(bt); err != nil {
		return err
	}
	return b.th.Do(ctx, func() error {
		p, mb := b.pool, b.shape.MaxBatch
		copy(p.host, bt.Pos)
		copy(p.host[mb:], bt.Seq)
		tabs := p.host[2*mb : 2*mb+len(bt.Tables)*p.stride]
		clear(tabs)
		for i, tab := range bt.Tables {
			copy(tabs[i*p.stride:], tab)
		}
		if err := cu.MemcpyHtoD(p.buf, unsafe.Pointer(&p.host[0]), int64(4*(2*mb+len(tabs)))); err != nil {
			return fmt.Errorf("cuda: copy the batch's rows and block tables: %w", err)
		}
		if err := cu.MemcpyHtoD(b.ids, unsafe.Pointer(&bt.IDs[0]), int64(4*len(bt.IDs))); err != nil {
			return fmt.Errorf("cuda: copy %d ids: %w", len(bt.IDs), err)
		}
		return b.issue(step, len(bt.IDs), true)
	})
}

// attentionPaged attends each row over its own sequence through the block tables
// (attention_paged, its splits merged by the last of them); storeKV wrote k and v.
func (o ops) attentionPaged(dst, q, c *tensor) {
	b, s := o.b, o.b.shape
	p, hd := b.pool, s.HeadDim
	splits := attnSplits(b.dev.sms, s.Heads*b.rows, s.Context)
	o.launch("attention_paged", [3]int{s.Heads, b.rows, splits}, 128, 0, q.p, c.p, dst.p, b.part, b.attnCount,
		p.pos, p.seq, p.tables, p.stride, s.Heads, s.KVHeads, hd, p.blockSize, c.rows, attnScale(hd))
}
