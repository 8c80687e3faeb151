package batch

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
)

// key identifies a full block by its tokens and everything before them: the
// SHA-256 of the previous block's key and the block's token ids.
type key [sha256.Size]byte

// chain returns the key of the block holding toks after the block keyed prev (the
// zero key for the first block).
func chain(prev key, toks []int) key {
	h := sha256.New()
	h.Write(prev[:])
	var b [4]byte
	for _, t := range toks {
		binary.LittleEndian.PutUint32(b[:], uint32(t))
		h.Write(b[:])
	}
	var k key
	h.Sum(k[:0])
	return k
}

// pool hands out the blocks of the paged cache and keeps the prefix cache: a block
// is in use (ref > 0), cached (ref 0, keyed, in the LRU list, evicted oldest first
// when a new block is needed) or free.
type pool struct {
	ref    []int32
	keyed  []bool
	keyOf  []key
	byKey  map[key]int32
	lru    *list.List // of int32 block ids, least recently used first
	inLRU  []*list.Element
	free   []int32
	cached int // keyed blocks, in use or not
}

func newPool(blocks int) *pool {
	p := &pool{ref: make([]int32, blocks), keyed: make([]bool, blocks), keyOf: make([]key, blocks),
		byKey: map[key]int32{}, lru: list.New(), inLRU: make([]*list.Element, blocks)}
	for b := blocks - 1; b >= 0; b-- {
		p.free = append(p.free, int32(b))
	}
	return p
}

// available is the number of blocks alloc can hand out: free and cached ones.
func (p *pool) available() int { return len(p.free) + p.lru.Len() }

// used is the number of blocks in use by sequences.
func (p *pool) used() int { return len(p.ref) - p.available() }

// alloc takes a free block, else evicts the least recently used cached one.
func (p *pool) alloc() (int32, bool) {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.ref[b] = 1
		return b, true
	}
	e := p.lru.Front()
	if e == nil {
		return 0, false
	}
	b := p.lru.Remove(e).(int32)
	p.inLRU[b] = nil
	delete(p.byKey, p.keyOf[b])
	p.keyed[b] = false
	p.cached--
	p.ref[b] = 1
	return b, true
}

// release drops one reference; an unused block stays cached if it is keyed.
func (p *pool) release(b int32) {
	p.ref[b]--
	if p.ref[b] > 0 {
		return
	}
	if p.keyed[b] {
		p.inLRU[b] = p.lru.PushBack(b)
		return
	}
	p.free = append(p.free, b)
}

// peek reports the block keyed k, if any, and whether it is unused (cached only).
func (p *pool) peek(k key) (b int32, idle, ok bool) {
	b, ok = p.byKey[k]
	return b, ok && p.ref[b] == 0, ok
}

// take adds a reference to the keyed block b (found by peek).
func (p *pool) take(b int32) {
	if e := p.inLRU[b]; e != nil {
		p.lru.Remove(e)
		p.inLRU[b] = nil
	}
	p.ref[b]++
}

// register keys the full block b, unless another block has that key already.
func (p *pool) register(b int32, k key) {
	if _, dup := p.byKey[k]; dup || p.keyed[b] {
		return
	}
	p.byKey[k], p.keyed[b], p.keyOf[b] = b, true, k
	p.cached++
}
