package batch

import (
	"slices"
	"testing"
)

// TestPoolLRU: a block's key names its tokens and everything before them;
// released keyed blocks stay findable, and alloc hands out free blocks first,
// then evicts the least recently released cached one; a hit takes a block out
// of eviction's reach until it is released again.
func TestPoolLRU(t *testing.T) {
	ka := chain(key{}, []int{1, 2})
	kb := chain(ka, []int{3, 4})
	kc := chain(key{}, []int{3, 4})
	if kb == kc || ka == kc || chain(key{}, []int{1, 2}) != ka {
		t.Fatal("keys: the same tokens after other blocks must differ, the same chain must not")
	}
	p := newPool(4)
	var got []int32
	for range 3 {
		b, ok := p.alloc()
		if !ok {
			t.Fatal("alloc from a free pool failed")
		}
		got = append(got, b)
	}
	a, b, c := got[0], got[1], got[2]
	p.register(a, ka)
	p.register(b, kb)
	p.register(c, kc)
	p.register(c, ka) // a second key for a block, or a key twice: ignored
	if p.cached != 3 || p.used() != 3 || p.available() != 1 {
		t.Fatalf("cached %d, used %d, available %d; want 3, 3, 1", p.cached, p.used(), p.available())
	}
	p.release(b)
	p.release(a)
	p.release(c) // least recently used first: b, a, c
	if blk, idle, ok := p.peek(ka); !ok || !idle || blk != a {
		t.Fatalf("peek(a's key) = %d %v %v", blk, idle, ok)
	}
	p.take(a) // a prefix hit
	if blk, idle, ok := p.peek(ka); !ok || idle || blk != a {
		t.Fatalf("peek after take = %d %v %v, want in use", blk, idle, ok)
	}
	var order []int32
	for {
		blk, ok := p.alloc()
		if !ok {
			break
		}
		order = append(order, blk)
	}
	if len(order) != 3 || slices.Contains(got, order[0]) || order[1] != b || order[2] != c {
		t.Errorf("alloc order %v: want the free block, then b (%d), then c (%d); a is in use", order, b, c)
	}
	if _, _, ok := p.peek(kb); ok {
		t.Error("an evicted block is still found by its key")
	}
	p.release(a)
	if blk, ok := p.alloc(); !ok || blk != a || slices.Contains(order, a) {
		t.Errorf("after a's release alloc gave %d %v, want a (%d)", blk, ok, a)
	}
}

// TestPreemptsYoungest: when decoding needs a block and the pool has none, the
// youngest running sequence is preempted, back to the front of the queue, and the
// older ones grow.
func TestPreemptsYoungest(t *testing.T) {
	const bs = 4
	s := &Scheduler{blockSize: bs, maxSeqs: 3, stepRows: 32, mixedRows: 32, pool: newPool(6), wake: make(chan struct{}, 1)}
	old, mid, young := promptSeq(10, 2*bs), promptSeq(30, 2*bs), promptSeq(50, 2*bs) // two full blocks each
	s.waiting = []*seq{old, mid, young}
	parts := s.plan()
	if len(parts) != 3 || len(s.running) != 3 || s.pool.available() != 0 {
		t.Fatalf("first step: %d parts, %d running, %d blocks left; want all three admitted, the pool full",
			len(parts), len(s.running), s.pool.available())
	}
	for _, p := range parts { // the step ran; each sampled a token needing a third block
		p.q.fed += p.n
		p.q.toks = append(p.q.toks, 7)
	}
	parts = s.plan()
	if len(s.running) != 2 || s.running[0] != old || s.running[1] != mid || len(s.waiting) != 1 || s.waiting[0] != young ||
		young.state != waiting || young.table != nil || s.stats.Preemptions != 1 {
		t.Fatalf("running %d, waiting %d, young %v with %d blocks, %d preemptions: want the youngest preempted alone",
			len(s.running), len(s.waiting), young.state, len(young.table), s.stats.Preemptions)
	}
	if len(parts) != 2 || len(old.table) != 3 || len(mid.table) != 3 {
		t.Errorf("%d parts, tables of %d and %d blocks: want old and mid decoding with a third block", len(parts), len(old.table), len(mid.table))
	}
}

// TestAdmissionReservesRunningPrompts: a prompt prefilled in chunks holds only its
// fed chunks' blocks, and admission leaves the rest of its prompt's blocks to it,
// so a later call waits instead of being admitted and preempted; two calls that
// each fit alone are not both admitted in one step against the same free blocks.
func TestAdmissionReservesRunningPrompts(t *testing.T) {
	const bs = 4
	s := &Scheduler{blockSize: bs, maxSeqs: 3, stepRows: bs, mixedRows: bs, pool: newPool(6), wake: make(chan struct{}, 1)}
	old, young := promptSeq(10, 4*bs), promptSeq(50, 3*bs) // 4 and 3 blocks of a pool of 6
	s.waiting = []*seq{old}
	for step := 0; ; step++ {
		if step == 1 {
			s.waiting = append(s.waiting, young)
		}
		parts := s.plan()
		if step >= 1 && step < 4 && (len(s.running) != 1 || young.state == running) {
			t.Fatalf("step %d: %d running, young %v; want young waiting while old's prompt still needs %d blocks",
				step, len(s.running), young.state, 4-len(old.table))
		}
		for _, p := range parts {
			p.q.fed += p.n
		}
		if old.fed == len(old.toks) {
			break
		}
	}
	if s.stats.Preemptions != 0 || len(old.table) != 4 {
		t.Errorf("%d preemptions, old's table %d blocks; want none and 4", s.stats.Preemptions, len(old.table))
	}

	s = &Scheduler{blockSize: bs, maxSeqs: 3, stepRows: 32, mixedRows: 32, pool: newPool(6), wake: make(chan struct{}, 1)}
	a, b := promptSeq(10, 4*bs), promptSeq(50, 4*bs)
	s.waiting = []*seq{a, b}
	s.plan()
	if len(s.running) != 1 || s.running[0] != a || len(s.waiting) != 1 || s.stats.Preemptions != 0 {
		t.Errorf("%d running, %d waiting, %d preemptions: want a alone admitted, b waiting", len(s.running), len(s.waiting), s.stats.Preemptions)
	}
}

// promptSeq is a waiting sequence whose prompt is the n tokens first, first+1, ...
func promptSeq(first, n int) *seq {
	toks := make([]int, n)
	for i := range toks {
		toks[i] = first + i
	}
	return &seq{toks: toks, prompt: n, notify: make(chan struct{}, 1)}
}
