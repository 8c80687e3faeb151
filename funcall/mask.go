package funcall

import (
	"math"
	"sync"
)

// Vocab is each token id's bytes as it decodes in the middle of a text; nil
// for a token that writes nothing or is never to be chosen (BOS, EOS, unknown).
type Vocab [][]byte

// Mask is a set of token ids, as bits.
type Mask []uint64

// Has reports whether id is in m.
func (m Mask) Has(id int) bool {
	return id >= 0 && id/64 < len(m) && m[id/64]&(1<<(id%64)) != 0
}

// Count is the number of ids in m.
func (m Mask) Count() int {
	n := 0
	for _, w := range m {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// Apply sets the logits of the ids outside m to -Inf.
func (m Mask) Apply(logits []float32) {
	inf := float32(math.Inf(-1))
	for w := 0; w*64 < len(logits); w++ {
		var bits uint64
		if w < len(m) {
			bits = m[w]
		}
		if bits == math.MaxUint64 {
			continue
		}
		for i := w * 64; i < min(len(logits), w*64+64); i++ {
			if bits&(1<<(i-w*64)) == 0 {
				logits[i] = inf
			}
		}
	}
}

// Masker applies an Automaton to a vocabulary: the tokens that may follow a
// state, computed by walking a trie of the tokens' bytes with the automaton
// (a branch is left as soon as the automaton rejects its prefix) and cached
// per state. It is safe for concurrent use.
type Masker struct {
	a       *Automaton
	vocab   Vocab
	nodes   []tokenNode
	longest int // bytes of the longest token

	mu    sync.Mutex
	cache map[State]Mask
	hits  int
	miss  int
}

// tokenNode is a node of the token trie: the byte that leads to it, its
// children, and the tokens whose bytes end here.
type tokenNode struct {
	kids []int32
	b    byte
	ids  []int32
}

// NewMasker builds the token trie of vocab for a.
func NewMasker(a *Automaton, vocab Vocab) *Masker {
	m := &Masker{a: a, vocab: vocab, nodes: []tokenNode{{}}, cache: map[State]Mask{}}
	for id, tok := range vocab {
		if len(tok) == 0 {
			continue
		}
		m.longest = max(m.longest, len(tok))
		at := int32(0)
		for _, b := range tok {
			found := int32(-1)
			for _, k := range m.nodes[at].kids {
				if m.nodes[k].b == b {
					found = k
					break
				}
			}
			if found < 0 {
				found = int32(len(m.nodes))
				m.nodes = append(m.nodes, tokenNode{b: b})
				m.nodes[at].kids = append(m.nodes[at].kids, found)
			}
			at = found
		}
		m.nodes[at].ids = append(m.nodes[at].ids, int32(id))
	}
	return m
}

// Automaton is the automaton m applies.
func (m *Masker) Automaton() *Automaton { return m.a }

// Mask returns the tokens that may follow s: every token whose bytes the
// automaton admits from s. It is empty after a complete call. The mask is
// shared: do not modify it.
func (m *Masker) Mask(s State) Mask {
	key := m.key(s)
	m.mu.Lock()
	mask, ok := m.cache[key]
	if ok {
		m.hits++
	} else {
		m.miss++
	}
	m.mu.Unlock()
	if ok {
		return mask
	}
	mask = make(Mask, (len(m.vocab)+63)/64)
	m.walk(0, s, mask)
	m.mu.Lock()
	m.cache[key] = mask
	m.mu.Unlock()
	return mask
}

func (m *Masker) walk(node int32, s State, mask Mask) {
	for _, k := range m.nodes[node].kids {
		n := &m.nodes[k]
		next, ok := m.a.Step(s, n.b)
		if !ok {
			continue
		}
		for _, id := range n.ids {
			mask[id/64] |= 1 << (id % 64)
		}
		if !m.a.Done(next) {
			m.walk(k, next, mask)
		}
	}
}

// key is s with the counters that cannot matter to any token set to one
// value: a count so far from its limit that the longest token cannot reach
// it gives the same mask as any other such count.
func (m *Masker) key(s State) State {
	limit := m.a.lim.MaxSpace
	switch s.phase {
	case pString:
		limit = m.a.lim.MaxString
	case pInt:
		limit = maxIntDigits
	case pNum:
		limit = m.a.lim.MaxNumber
	}
	if int(s.n)+m.longest < limit {
		s.n = 0
	}
	return s
}

// Advance steps s over token id's bytes; false when id may not follow s.
func (m *Masker) Advance(s State, id int) (State, bool) {
	if id < 0 || id >= len(m.vocab) || len(m.vocab[id]) == 0 {
		return State{}, false
	}
	return m.a.Feed(s, m.vocab[id])
}

// CacheStats is how many masks were found in the cache and how many computed.
func (m *Masker) CacheStats() (hits, misses int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.miss
}

// maxForced bounds the bytes Forced looks ahead.
const maxForced = 64

// Forced returns the tokens that are the only way on from s, as far as the
// automaton allows one byte alone (the rest of a name or key, the colon after
// the last param...), longest tokens first, for the engine to feed in one
// forward pass instead of one token at a time.
func (m *Masker) Forced(s State) []int {
	var forced []byte
	for len(forced) < maxForced && !m.a.Done(s) {
		var only byte
		var next State
		n := 0
		for b := range 256 {
			if t, ok := m.a.Step(s, byte(b)); ok {
				if n++; n > 1 {
					break
				}
				only, next = byte(b), t
			}
		}
		if n != 1 {
			break
		}
		forced = append(forced, only)
		s = next
	}
	var ids []int
	for len(forced) > 0 {
		id, n := m.longestPrefix(forced)
		if n == 0 {
			break
		}
		ids = append(ids, id)
		forced = forced[n:]
	}
	return ids
}

// longestPrefix is the longest token that b begins with, and its length.
func (m *Masker) longestPrefix(b []byte) (id, n int) {
	at := int32(0)
	for i, c := range b {
		next := int32(-1)
		for _, k := range m.nodes[at].kids {
			if m.nodes[k].b == c {
				next = k
				break
			}
		}
		if next < 0 {
			break
		}
		at = next
		if ids := m.nodes[at].ids; len(ids) > 0 {
			id, n = int(ids[0]), i+1
		}
	}
	return id, n
}
