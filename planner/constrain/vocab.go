package constrain

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"sync"
)

// Vocab is what an Index needs from a tokenizer: engine/tokenizer.Tokenizer has it.
type Vocab interface {
	VocabSize() int
	Piece(id int) string // "▁Hello", "<0x0A>", "<s>"
	EOS() int            // -1 when there is none
}

// Mask is a set of token ids, one bit each.
type Mask []uint64

// Has reports whether id is in the mask.
func (m Mask) Has(id int) bool {
	return id >= 0 && id>>6 < len(m) && m[id>>6]&(1<<(id&63)) != 0
}

// Count returns the number of ids in the mask.
func (m Mask) Count() int {
	n := 0
	for _, w := range m {
		n += bits.OnesCount64(w)
	}
	return n
}

func (m Mask) set(id int) { m[id>>6] |= 1 << (id & 63) }

// Index applies a Grammar to a vocabulary: a trie of the tokens' bytes, walked
// with the grammar to find the tokens a state allows, and a cache of those masks
// by canonical state. It is safe for concurrent use.
type Index struct {
	g     *Grammar
	vocab int
	eos   int
	toks  [][]byte // bytes of each token; nil for control tokens

	// The trie in preorder: node i's subtree is [i, end[i]).
	depth []uint16
	edge  []byte
	end   []int32
	first []int32 // tokens ending at node i: ends[first[i]:first[i+1]]
	ends  []int32

	maxLen    int // longest token, in bytes
	maxBreaks int // most line ends in one token
	// loose: no token has a digit beside another byte, nor a byte after a line
	// end (LLaMA's), so inside free text no token can complete a reference or
	// start a line, and the mask does not depend on which names are defined.
	loose bool

	mu    sync.Mutex
	cache map[cacheKey]*entry
	max   int // cache entries before it is emptied
}

type cacheKey struct {
	s      State
	finish bool
}

type entry struct {
	mask   Mask
	forced []byte // the bytes the grammar allows alone from the state
}

// DefaultCacheSize is how many masks an Index keeps (4 KiB each for LLaMA).
const DefaultCacheSize = 4096

// NewIndex builds the token trie of v for g. Byte-fallback tokens ("<0x0A>") stand
// for their byte, "▁" for a space; control tokens ("<s>", "<unk>") are never
// allowed and EOS only where the plan is complete. Every byte a completion may need
// must have a token.
func NewIndex(g *Grammar, v Vocab) (*Index, error) {
	n := v.VocabSize()
	if n <= 0 {
		return nil, fmt.Errorf("%w: empty vocabulary", ErrOptions)
	}
	ix := &Index{g: g, vocab: n, eos: v.EOS(), toks: make([][]byte, n), cache: map[cacheKey]*entry{}, max: DefaultCacheSize}
	var single [256]bool
	ix.loose = true
	for id := range n {
		if id == ix.eos {
			continue
		}
		b := tokenBytes(v.Piece(id))
		if len(b) == 0 {
			continue
		}
		ix.toks[id] = b
		ix.maxLen = max(ix.maxLen, len(b))
		ix.maxBreaks = max(ix.maxBreaks, strings.Count(string(b), "\n")+strings.Count(string(b), "\r"))
		if len(b) == 1 {
			single[b[0]] = true
		}
		if len(b) > 1 && (strings.ContainsAny(string(b), "0123456789") || strings.ContainsAny(string(b[:len(b)-1]), "\n\r")) {
			ix.loose = false
		}
	}
	for _, c := range []byte("\t\n :#[]=0123456789" + evidence + "AEFPafp" + "nswerilan") {
		if !single[c] {
			return nil, fmt.Errorf("%w: the vocabulary has no token for %q alone", ErrOptions, c)
		}
	}
	for b := 0x80; b < 0x100; b++ {
		if !single[b] {
			return nil, fmt.Errorf("%w: the vocabulary has no byte-fallback token <0x%02X>", ErrOptions, b)
		}
	}
	ix.build()
	return ix, nil
}

// tokenBytes is the text a piece stands for, or nil for a control token.
func tokenBytes(p string) []byte {
	if len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>' {
		var b byte
		for _, c := range []byte(p[3:5]) {
			switch {
			case c >= '0' && c <= '9':
				b = b<<4 | (c - '0')
			case c >= 'A' && c <= 'F':
				b = b<<4 | (c - 'A' + 10)
			default:
				return []byte(strings.ReplaceAll(p, "▁", " "))
			}
		}
		return []byte{b}
	}
	if len(p) > 2 && p[0] == '<' && p[len(p)-1] == '>' && !strings.ContainsAny(p[1:len(p)-1], "<> ") {
		return nil // <s>, </s>, <unk>, <pad>: control pieces
	}
	return []byte(strings.ReplaceAll(p, "▁", " "))
}

// build lays the trie out in preorder.
func (ix *Index) build() {
	type tnode struct {
		kids [256]int32
		toks []int32
	}
	nodes := []*tnode{{}}
	for id, b := range ix.toks {
		if b == nil {
			continue
		}
		n := 0
		for _, c := range b {
			k := nodes[n].kids[c]
			if k == 0 {
				k = int32(len(nodes))
				nodes = append(nodes, &tnode{})
				nodes[n].kids[c] = k
			}
			n = int(k)
		}
		nodes[n].toks = append(nodes[n].toks, int32(id))
	}
	var walk func(n int, d int, c byte)
	walk = func(n, d int, c byte) {
		i := len(ix.depth)
		ix.depth = append(ix.depth, uint16(d))
		ix.edge = append(ix.edge, c)
		ix.end = append(ix.end, 0)
		ix.first = append(ix.first, int32(len(ix.ends)))
		ix.ends = append(ix.ends, nodes[n].toks...)
		for b := range 256 {
			if k := nodes[n].kids[b]; k != 0 {
				walk(int(k), d+1, byte(b))
			}
		}
		ix.end[i] = int32(len(ix.depth))
	}
	walk(0, 0, 0)
	ix.first = append(ix.first, int32(len(ix.ends)))
}

// Grammar returns the grammar the index applies.
func (ix *Index) Grammar() *Grammar { return ix.g }

// VocabSize is the number of token ids a mask covers.
func (ix *Index) VocabSize() int { return ix.vocab }

// Bytes returns the text of token id, nil for a control token.
func (ix *Index) Bytes(id int) []byte {
	if id < 0 || id >= ix.vocab {
		return nil
	}
	return ix.toks[id]
}

// key is the cache key of s: s with what cannot change the mask taken out. A
// byte counter far enough from its limit that no token can reach the limit reads
// as 0, prose lines left are capped at what one token can use, and what only
// Finish reads (the last step, the citation) is dropped.
func (ix *Index) key(s State, finish bool) cacheKey {
	if finish {
		return cacheKey{s, true}
	}
	lim := &ix.g.lim
	slack := 2*ix.maxLen + 8
	limit := lim.MaxLineBytes
	if s.mode == mInput {
		limit = lim.MaxInputBytes
	}
	if int(s.n)+slack < limit {
		s.n = 0
	}
	left := lim.MaxProseLines - int(s.prose)
	if left > ix.maxBreaks+1 {
		s.prose = 0
	} else {
		s.prose = uint8(lim.MaxProseLines - left) // unchanged, near the limit
	}
	s.last, s.lastSt, s.cited = 0, 0, false
	// Fields a mode never reads keep what earlier lines left in them: clear them.
	switch s.rs.phase {
	case rsNone:
		s.rs = refScan{}
	case rsColon, rsHash:
		s.rs.name = number{}
	}
	if s.mode != mHead && !(s.mode == mInput && s.guard) {
		s.h = head{}
	}
	if s.mode != mTool {
		s.tool = 0
	}
	switch s.mode {
	case mEq, mToolBlank, mClose:
	default:
		s.blanks = 0
	}
	switch s.mode {
	case mEq, mTool, mToolBlank, mInput, mClose:
	default:
		s.wraps, s.closed, s.depth, s.name, s.nameSt = 0, 0, 0, number{}, 0
	}
	if ix.loose && s.mode == mInput {
		s.name, s.nameSt = number{}, 0 // written by the closing "]", read by nothing in the token
	}
	if ix.loose && s.rs.phase != rsColonNum && s.rs.phase != rsHashE {
		switch s.mode {
		case mInput, mAnswer, mComment, mNote, mProse:
			// Names are read only by a reference's digits or a line's head, which
			// a loose vocabulary cannot reach from here within one token; of the
			// counts only "some step exists" matters, for EOS.
			s.def, s.notes, s.prose = [2][2]uint64{}, 0, 0
			s.steps = min(s.steps, 1)
		case mHead:
			// A line head reads names only once it holds a name's digits; before,
			// of the steps only none, some, or all MaxSteps matter.
			switch s.h.phase {
			case hColonNum, hHashE, hAfterRef:
			default:
				s.def = [2][2]uint64{}
				if s.steps > 0 && int(s.steps) < lim.MaxSteps {
					s.steps = 1
				}
			}
		}
	}
	return cacheKey{s, false}
}

// walk computes the tokens the grammar allows from s.
func (ix *Index) walk(s State) *entry {
	g := ix.g
	m := make(Mask, (ix.vocab+63)/64)
	stack := make([]State, ix.maxLen+1)
	stack[0] = s
	for i := 1; i < len(ix.depth); {
		d := int(ix.depth[i])
		stack[d] = stack[d-1]
		if !g.step(&stack[d], ix.edge[i]) {
			i = int(ix.end[i])
			continue
		}
		for _, id := range ix.ends[ix.first[i]:ix.first[i+1]] {
			m.set(int(id))
		}
		i++
	}
	if ix.eos >= 0 && g.Accepting(s) {
		m.set(ix.eos)
	}
	// Forced bytes: while exactly one byte is allowed and the plan may not end.
	var forced []byte
	for c := s; len(forced) < ix.maxLen+g.bmax && !g.Accepting(c); {
		var only byte
		count := 0
		for b := range 256 {
			t := c
			if g.step(&t, byte(b)) {
				only = byte(b)
				if count++; count > 1 {
					break
				}
			}
		}
		if count != 1 {
			break
		}
		g.step(&c, only)
		forced = append(forced, only)
	}
	return &entry{mask: m, forced: forced}
}

func (ix *Index) lookup(s State) *entry {
	k := ix.key(s, false)
	ix.mu.Lock()
	e := ix.cache[k]
	ix.mu.Unlock()
	if e != nil {
		return e
	}
	e = ix.walk(s)
	ix.mu.Lock()
	if len(ix.cache) >= ix.max {
		clear(ix.cache)
	}
	ix.cache[k] = e
	ix.mu.Unlock()
	return e
}

// ResetCache empties the mask cache (for benchmarks of the cold cost).
func (ix *Index) ResetCache() {
	ix.mu.Lock()
	clear(ix.cache)
	ix.mu.Unlock()
}

// prefixTokens returns the tokens whose bytes are a prefix of text, longest last.
func (ix *Index) prefixTokens(text string) []int {
	var out []int
	i := 0 // the root
	for pos := 0; pos < len(text); pos++ {
		next := -1
		for j := i + 1; j < int(ix.end[i]); j = int(ix.end[j]) {
			if ix.edge[j] == text[pos] {
				next = j
				break
			}
		}
		if next < 0 {
			break
		}
		i = next
		for _, id := range ix.ends[ix.first[i]:ix.first[i+1]] {
			out = append(out, int(id))
		}
	}
	return out
}

// tokenize splits text greedily into the longest tokens of the vocabulary.
func (ix *Index) tokenize(text string) []int {
	var out []int
	for len(text) > 0 {
		ps := ix.prefixTokens(text)
		if len(ps) == 0 {
			return out // cannot happen: NewIndex checked the single bytes
		}
		id := ps[len(ps)-1]
		out = append(out, id)
		text = text[len(ix.toks[id]):]
	}
	return out
}

// ErrDisallowed is returned by Advance for a token the constraint does not allow.
var ErrDisallowed = errors.New("constrain: token not allowed")

// Decoder constrains one generation: it holds the grammar state and the tokens
// left in the generation's budget. Copy it with Clone to branch; it is not safe
// for concurrent use (its Index is).
type Decoder struct {
	ix   *Index
	s    State
	left int // tokens the generation may still produce; -1 for no limit
	text []byte
}

// NewDecoder starts a generation of at most maxTokens tokens (0 for no limit
// beyond the grammar's own, which already bounds a plan's length). The budget
// must leave room to write a plan.
func (ix *Index) NewDecoder(maxTokens int) (*Decoder, error) {
	return ix.NewDecoderAfter("", maxTokens)
}

// NewDecoderAfter is NewDecoder for a generation that continues prefix, plan
// text standing before what the model writes (the steps of evidence already
// gathered, which the plan may cite): the grammar reads prefix first, so its
// names are defined and its steps count towards MaxSteps. A prefix outside the
// plan language fails with ErrRejected. Text holds only what is generated.
func (ix *Index) NewDecoderAfter(prefix string, maxTokens int) (*Decoder, error) {
	s, err := ix.g.Advance(ix.g.Start(), prefix)
	if err != nil {
		return nil, fmt.Errorf("the plan's prefix: %w", err)
	}
	d := &Decoder{ix: ix, s: s, left: maxTokens}
	if maxTokens == 0 {
		d.left = -1
	}
	if need := len(ix.g.Finish(d.s)); maxTokens < 0 || maxTokens > 0 && maxTokens < need {
		return nil, fmt.Errorf("%w: a budget of %d tokens cannot hold a plan (%d at least)", ErrOptions, maxTokens, need)
	}
	return d, nil
}

// Clone returns an independent copy of d.
func (d *Decoder) Clone() *Decoder {
	c := *d
	c.text = append([]byte(nil), d.text...)
	return &c
}

// State returns the grammar state.
func (d *Decoder) State() State { return d.s }

// Text returns the bytes generated so far (what the tokens spell, "▁" as space).
func (d *Decoder) Text() string { return string(d.text) }

// finishing reports whether the budget is so short that only the completion may
// be written: any more freedom could leave too few tokens for Finish.
func (d *Decoder) finishing() bool { return d.left >= 0 && d.left <= d.ix.g.bmax }

// Done reports whether the text is a complete plan.
func (d *Decoder) Done() bool { return d.ix.g.Accepting(d.s) }

// Mask returns the tokens allowed next. The mask is shared with the cache: read
// only.
func (d *Decoder) Mask() Mask {
	if d.finishing() {
		m := make(Mask, (d.ix.vocab+63)/64)
		fin := d.ix.g.Finish(d.s)
		if fin == "" {
			if d.ix.eos >= 0 {
				m.set(d.ix.eos)
			}
			return m
		}
		for _, id := range d.ix.prefixTokens(fin) {
			m.set(id)
		}
		return m
	}
	return d.ix.lookup(d.s).mask
}

// Prepare computes the mask Mask and Filter will need, into the cache: call it
// while the model runs the step. The engine's generator does (generate.Preparer).
func (d *Decoder) Prepare() {
	if !d.finishing() {
		d.ix.lookup(d.s)
	}
}

// Forced returns the tokens that are the only way on from here, to feed as one
// prefill: the completion when the budget is that short, else the bytes the
// grammar allows alone, in the longest tokens; EOS ends them when the plan can
// only end. They fit in the budget. Empty when the model has a choice.
func (d *Decoder) Forced() []int {
	var out []int
	if d.finishing() {
		out = d.ix.tokenize(d.ix.g.Finish(d.s))
		if d.ix.eos >= 0 {
			out = append(out, d.ix.eos)
		}
	} else {
		e := d.ix.lookup(d.s)
		out = d.ix.tokenize(string(e.forced))
		if len(e.forced) == 0 && d.ix.eos >= 0 && e.mask.Count() == 1 && e.mask.Has(d.ix.eos) {
			out = []int{d.ix.eos}
		}
	}
	if d.left >= 0 && len(out) > d.left {
		out = out[:d.left]
	}
	return out
}

// Advance feeds the chosen token. EOS is allowed only when the plan is complete.
func (d *Decoder) Advance(id int) error {
	if id < 0 || id >= d.ix.vocab {
		return fmt.Errorf("%w: id %d outside the vocabulary", ErrDisallowed, id)
	}
	if d.left == 0 {
		return fmt.Errorf("%w: the token budget is spent", ErrDisallowed)
	}
	if id == d.ix.eos {
		if !d.Done() {
			return fmt.Errorf("%w: EOS before the plan is complete", ErrDisallowed)
		}
		d.left = 0
		return nil
	}
	b := d.ix.toks[id]
	if b == nil {
		return fmt.Errorf("%w: control token %d", ErrDisallowed, id)
	}
	if d.finishing() {
		if fin := d.ix.g.Finish(d.s); !strings.HasPrefix(fin, string(b)) {
			return fmt.Errorf("%w: token %d (%q) while the budget only leaves room for %q", ErrDisallowed, id, b, fin)
		}
	}
	next, err := d.ix.g.Advance(d.s, string(b))
	if err != nil {
		return fmt.Errorf("%w: token %d (%q): %w", ErrDisallowed, id, b, err)
	}
	d.s = next
	d.text = append(d.text, b...)
	if d.left > 0 {
		d.left--
	}
	return nil
}

// Filter sets the logits of disallowed tokens to -Inf: the constraint as a
// sampler stage, before repetition penalty, temperature and top-k/top-p.
func (d *Decoder) Filter(logits []float32) error {
	if len(logits) != d.ix.vocab {
		return fmt.Errorf("constrain: %d logits for a vocabulary of %d", len(logits), d.ix.vocab)
	}
	m := d.Mask()
	inf := float32(math.Inf(-1))
	for w, word := range m {
		if word == math.MaxUint64 {
			continue
		}
		for b := range 64 {
			id := w*64 + b
			if id >= len(logits) {
				break
			}
			if word&(1<<b) == 0 {
				logits[id] = inf
			}
		}
	}
	return nil
}
