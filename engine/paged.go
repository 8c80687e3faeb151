package engine

import "context"

// PagedBackend is an optional capability of a Backend (found by type assertion):
// a key-value cache cut into blocks that many sequences share, and steps whose rows
// belong to different sequences at positions of their own. The continuous-batching
// scheduler (engine/batch) needs it; on a backend without it the engine serves one
// sequence at a time (engine/generate).
//
// Under RunBatch the operations of Ops act as under Run, except that row i is the
// token Batch.IDs[i] at position Batch.Pos[i] of sequence Batch.Seq[i]: RoPE rotates
// each row by its own position, and Attention, given a paged cache, writes each
// row's key and value at its position through its sequence's block table, then
// attends over that sequence's positions 0..Pos[i] read through the same table
// (grouped-query heads as under Run). Rows of one sequence in a batch are at
// distinct positions; every position a row attends to is written by this step or
// an earlier one. Attention with a paged cache under Run, or with a one-sequence
// cache under RunBatch, fails.
type PagedBackend interface {
	Backend
	// NewPagedCache returns one layer's paged cache: blocks blocks of blockSize
	// positions of kvHeads×headDim keys and values. Its Dims are blocks×blockSize
	// positions by kvHeads×headDim columns.
	NewPagedCache(ctx context.Context, kvHeads, headDim, blocks, blockSize int) (Tensor, error)
	// RunBatch is Run for a batch of rows of several sequences (see above).
	RunBatch(ctx context.Context, b Batch, step func(Ops)) error
	// KVMemory is the memory, in bytes, the device has free now for a paged cache
	// (call it after the weights are loaded); ok is false where it cannot tell.
	KVMemory() (bytes int64, ok bool)
	// KVShare is the share of KVMemory a paged cache takes unless configured
	// otherwise: most of a device's own memory, less of a host's, which the
	// system and other programs share.
	KVShare() float64
	// KVValueBytes is the size of one key or value element in a paged cache
	// (4 for float32, 2 for float16): the block pool is sized with it.
	KVValueBytes() int
}

// Batch is the rows of one PagedBackend.RunBatch step.
type Batch struct {
	IDs []int32 // the token of each row
	Pos []int32 // the position of each row in its sequence
	Seq []int32 // the sequence of each row, an index into Tables
	// Tables holds each sequence's block table: position p of sequence s lives in
	// block Tables[s][p/blockSize], at slot p%blockSize.
	Tables [][]int32
}
