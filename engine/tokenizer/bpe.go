package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Encode returns the ids of text, without BOS, exactly as the sentencepiece
// library encodes it (for a tokenizer.json: as the Hugging Face tokenizers library
// does, apart from special tokens, which stay plain text). Bytes that are not
// valid UTF-8 are read as U+FFFD, one per byte, as sentencepiece reads them.
func (t *Tokenizer) Encode(text string) []int {
	s := t.normalize(text)
	if s == "" {
		return nil
	}
	var e encoder
	ids := make([]int, 0, len(s)/3+1)
	for s != "" {
		end := t.wordEnd(s)
		ids = e.encode(t, s[:end], ids)
		s = s[end:]
	}
	return ids
}

// wordEnd is the length of the first part of s that BPE can work on alone:
// BPE runs on each part separately, and the result is the same as on the whole
// text when no piece spans the parts, which keeps the merge queue small.
func (t *Tokenizer) wordEnd(s string) int {
	switch {
	case t.norm.splitWords:
		// Metaspace split: each word runs up to the next "▁" after its first character.
		_, n := utf8.DecodeRuneInString(s)
		if i := strings.Index(s[n:], spaceSymbol); i >= 0 {
			return n + i
		}
	case t.wordsApart:
		// A word ends where a "▁" follows something else.
		for from := 0; ; {
			i := strings.Index(s[from:], spaceSymbol)
			if i < 0 {
				break
			}
			i += from
			if i > 0 && !strings.HasSuffix(s[:i], spaceSymbol) {
				return i
			}
			from = i + len(spaceSymbol)
		}
	}
	return len(s)
}

// normalize turns text into the string BPE works on.
func (t *Tokenizer) normalize(text string) string {
	if t.norm.removeExtraSpaces {
		text = strings.Join(strings.FieldsFunc(text, func(r rune) bool { return r == ' ' }), " ")
	}
	if text == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(text) + len(text)/4 + len(spaceSymbol))
	if t.norm.dummyPrefix && !(t.norm.keepExistingPrefix && t.startsWithSpace(text)) {
		b.WriteString(spaceSymbol)
	}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == ' ' && t.norm.escapeSpaces:
			b.WriteString(spaceSymbol)
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(text[i : i+n])
		}
		i += n
	}
	return b.String()
}

func (t *Tokenizer) startsWithSpace(text string) bool {
	return strings.HasPrefix(text, spaceSymbol) || (t.norm.escapeSpaces && text[0] == ' ')
}

// symbol is a run of the normalized text, a node of a doubly linked list.
type symbol struct {
	start, end int32 // byte range in the normalized text; empty once merged away
	prev, next int32 // neighbours, -1 at the ends
	id         int32 // the piece it forms, -1 if none
	frozen     bool  // a user-defined piece: never merged
}

// candidate is a pair of adjacent symbols that could merge into piece id.
type candidate struct {
	score             float32 // higher merges first
	left, right       int32
	leftLen, rightLen int32 // lengths when queued: a pair whose symbols changed is stale
	id                int32
}

func (a candidate) before(b candidate) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// encoder holds the scratch space of one encoding.
type encoder struct {
	syms  []symbol
	queue []candidate // a binary heap ordered by before
	// revMerge records how unused pieces were formed, to split them again.
	revMerge map[string][2]string
}

func (e *encoder) push(c candidate) {
	e.queue = append(e.queue, c)
	q := e.queue
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (e *encoder) pop() candidate {
	q := e.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q[r].before(q[l]) {
			m = r
		}
		if !q[m].before(q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	e.queue = q
	return top
}

// encode appends the ids of the normalized text s to ids.
func (e *encoder) encode(t *Tokenizer, s string, ids []int) []int {
	e.syms = e.syms[:0]
	e.queue = e.queue[:0]
	for i := 0; i < len(s); {
		n, id, frozen := t.nextSymbol(s[i:])
		if id < 0 && t.merges != nil && t.byteFallback {
			// The tokenizers library falls back to bytes before merging.
			for k := range n {
				e.add(int32(i+k), int32(i+k+1), t.byteID[s[i+k]], false)
			}
		} else {
			e.add(int32(i), int32(i+n), id, frozen)
		}
		i += n
	}
	for i := 1; i < len(e.syms); i++ {
		e.consider(t, s, int32(i-1), int32(i))
	}
	for len(e.queue) > 0 {
		c := e.pop()
		l, r := &e.syms[c.left], &e.syms[c.right]
		if l.end-l.start != c.leftLen || r.end-r.start != c.rightLen || l.next != c.right {
			continue // stale: one of the two has changed since
		}
		l.end, l.next, l.id = r.end, r.next, c.id
		if r.next >= 0 {
			e.syms[r.next].prev = c.left
		}
		r.start, r.end = 0, 0
		e.consider(t, s, l.prev, c.left)
		e.consider(t, s, c.left, l.next)
	}
	for i := int32(0); i >= 0 && int(i) < len(e.syms); i = e.syms[i].next {
		sym := e.syms[i]
		ids = e.emit(t, s[sym.start:sym.end], sym.id, ids)
	}
	return ids
}

func (e *encoder) add(start, end, id int32, frozen bool) {
	n := int32(len(e.syms))
	prev := n - 1
	e.syms = append(e.syms, symbol{start: start, end: end, prev: prev, next: n + 1, id: id, frozen: frozen})
	if prev >= 0 {
		e.syms[prev].next = n
	}
	e.syms[n].next = -1
}

// nextSymbol returns the length of the first symbol of s (a user-defined piece or
// one character) and its id, -1 if it is no piece.
func (t *Tokenizer) nextSymbol(s string) (n int, id int32, frozen bool) {
	for l := min(t.maxUser, len(s)); l > 0; l-- {
		if id, ok := t.userDefined[s[:l]]; ok {
			return l, id, true
		}
	}
	if s[0] < utf8.RuneSelf {
		return 1, t.asciiID[s[0]], false
	}
	_, n = utf8.DecodeRuneInString(s)
	if id, ok := t.mergeable[s[:n]]; ok {
		return n, id, false
	}
	return n, -1, false
}

// consider queues the pair (left, right) if it forms a piece.
func (e *encoder) consider(t *Tokenizer, s string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := &e.syms[left], &e.syms[right]
	if l.frozen || r.frozen {
		return
	}
	c := candidate{left: left, right: right, leftLen: l.end - l.start, rightLen: r.end - r.start}
	if t.merges != nil {
		m, ok := t.merges[[2]int32{l.id, r.id}]
		if !ok || l.id < 0 || r.id < 0 {
			return
		}
		c.score, c.id = -float32(m.rank), m.id
	} else {
		id, ok := t.mergeable[s[l.start:r.end]]
		if !ok {
			return
		}
		c.score, c.id = t.pieces[id].score, id
		if t.pieces[id].kind == kindUnused {
			if e.revMerge == nil {
				e.revMerge = map[string][2]string{}
			}
			e.revMerge[s[l.start:r.end]] = [2]string{s[l.start:l.end], s[r.start:r.end]}
		}
	}
	e.push(c)
}

// emit appends the ids of one final symbol w (piece id, or -1): unused pieces
// split back into the pieces that formed them, unknown text as bytes or one
// unknown id, as sentencepiece does.
func (e *encoder) emit(t *Tokenizer, w string, id int32, ids []int) []int {
	if id >= 0 && t.pieces[id].kind == kindUnused {
		if p, ok := e.revMerge[w]; ok {
			ids = e.emit(t, p[0], t.lookup(p[0]), ids)
			return e.emit(t, p[1], t.lookup(p[1]), ids)
		}
	}
	if id >= 0 {
		return append(ids, int(id))
	}
	if t.byteFallback {
		for i := 0; i < len(w); i++ {
			ids = append(ids, int(t.byteID[w[i]]))
		}
		return ids
	}
	if t.unk < 0 {
		return ids // a tokenizer.json without unknown token drops the text, as tokenizers does
	}
	if t.fuseUnknown && len(ids) > 0 && ids[len(ids)-1] == t.unk {
		return ids
	}
	return append(ids, t.unk)
}

func (t *Tokenizer) lookup(w string) int32 {
	if id, ok := t.mergeable[w]; ok {
		return id
	}
	return -1
}
