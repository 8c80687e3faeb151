package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode returns the text of ids exactly as sentencepiece decodes them: "▁" is a
// space, byte tokens are reassembled into UTF-8 with U+FFFD for each byte of an
// invalid sequence, control tokens (BOS, EOS) vanish, the unknown token reads
// " ⁇ ", and the leading space of the first piece (the dummy prefix) is dropped,
// unless text precedes it. An id outside [0, VocabSize) also reads as the
// unknown surface; callers that take ids from users check them first.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	d := decoder{t: t, out: &b, expectPrefix: t.norm.stripDecoded}
	for _, id := range ids {
		d.next(id)
	}
	d.flushBytes()
	return b.String()
}

// decoder is sentencepiece's decoding loop, one id at a time.
type decoder struct {
	t     *Tokenizer
	out   *strings.Builder
	bytes []byte // pending byte tokens, not yet a whole character
	// expectPrefix: the next piece's leading "▁" is the dummy prefix.
	expectPrefix bool
}

func (d *decoder) next(id int) {
	t := d.t
	if id < 0 || id >= len(t.pieces) {
		d.flushBytes()
		d.out.WriteString(t.unkSurface)
		return
	}
	p := &t.pieces[id]
	if p.kind == kindByte {
		d.bytes = append(d.bytes, p.byte)
		d.completeBytes()
		return
	}
	d.flushBytes()
	if d.out.Len() > 0 {
		d.expectPrefix = false
	}
	switch p.kind {
	case kindControl:
		// invisible; a leading control token (BOS) keeps the dummy prefix expected
	case kindUnknown:
		d.out.WriteString(t.unkSurface)
	default:
		text := p.text
		if d.expectPrefix {
			var had bool
			text, had = strings.CutPrefix(text, spaceSymbol)
			// sentencepiece stops expecting after a piece that had the prefix.
			d.expectPrefix = !had
		}
		d.out.WriteString(strings.ReplaceAll(text, spaceSymbol, " "))
	}
}

// completeBytes writes the pending bytes up to the last whole character or
// invalid byte, keeping a valid but incomplete tail.
func (d *decoder) completeBytes() {
	b := d.bytes
	for len(b) > 0 && utf8.FullRune(b) {
		b = d.writeRune(b)
	}
	d.bytes = append(d.bytes[:0], b...)
}

// flushBytes writes every pending byte: an incomplete tail is invalid.
func (d *decoder) flushBytes() {
	b := d.bytes
	for len(b) > 0 {
		b = d.writeRune(b)
	}
	d.bytes = d.bytes[:0]
}

func (d *decoder) writeRune(b []byte) []byte {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 {
		d.out.WriteRune(utf8.RuneError)
	} else {
		d.out.Write(b[:n])
	}
	return b[n:]
}

// Stream decodes generated ids one at a time. Generated text continues a prompt,
// so unlike Decode it keeps the leading space of the first piece: the text of a
// stream is Decode's text of the same ids, with that space where Decode drops it.
// A Stream is not safe for concurrent use.
type Stream struct {
	d   decoder
	buf strings.Builder
}

// NewStream starts decoding a continuation.
func (t *Tokenizer) NewStream() *Stream {
	s := &Stream{}
	s.d = decoder{t: t, out: &s.buf}
	return s
}

// Next returns the text that id completes: "" while id is part of a UTF-8
// character not yet whole, the held-back bytes as U+FFFD once it is clear they
// never will be.
func (s *Stream) Next(id int) string {
	s.buf.Reset()
	s.d.next(id)
	return s.buf.String()
}

// Flush returns what is still held back, as U+FFFD for each byte: call it when
// generation ends.
func (s *Stream) Flush() string {
	s.buf.Reset()
	s.d.flushBytes()
	return s.buf.String()
}
