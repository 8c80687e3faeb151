package generate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unicode/utf8"
)

// Byte-level fake vocabulary: ids 0-255 are bytes, then BOS and EOS.
const (
	bos   = 256
	eos   = 257
	vocab = 258
)

type byteTokenizer struct{}

func (byteTokenizer) Encode(text string) []int {
	ids := make([]int, len(text))
	for i := range len(text) {
		ids[i] = int(text[i])
	}
	return ids
}
func (byteTokenizer) BOS() int                 { return bos }
func (byteTokenizer) EOS() int                 { return eos }
func (byteTokenizer) NewStream() *byteStream   { return &byteStream{} }
func (t byteTokenizer) ids(text string) []int  { return append([]int{bos}, t.Encode(text)...) }
func (byteTokenizer) script(text string) []int { return append(byteTokenizer{}.Encode(text), eos) }

// byteStream holds bytes back until they make whole characters.
type byteStream struct{ pending []byte }

func (s *byteStream) Next(id int) string {
	if id >= 256 {
		return ""
	}
	s.pending = append(s.pending, byte(id))
	n := 0
	for n < len(s.pending) && utf8.FullRune(s.pending[n:]) {
		_, size := utf8.DecodeRune(s.pending[n:])
		n += size
	}
	out := string(s.pending[:n])
	s.pending = s.pending[n:]
	return out
}

func (s *byteStream) Flush() string {
	out := string(s.pending)
	s.pending = nil
	return out
}

// call records one Forward.
type call struct {
	ids         []int
	start, last int
}

// fakeModel continues any prompt with script: the logits after the prompt's last
// token favour script[0], and so on. It checks the Model contract: no concurrent
// calls, no start beyond what was fed.
type fakeModel struct {
	promptLen int
	script    []int
	ctxLen    int
	margin    float32   // the scripted token's logit; 0 means 10
	base      []float32 // the other logits; nil means zeros

	vocab int // 0 means the byte vocabulary's

	seq   []int // the cache
	calls []call
	busy  atomic.Bool
	fail  error                                  // returned by the next Forward, then cleared
	hook  func(ctx context.Context, n int) error // called on every Forward, n counting from 1
}

func (m *fakeModel) VocabSize() int {
	if m.vocab > 0 {
		return m.vocab
	}
	return vocab
}
func (m *fakeModel) ContextLength() int { return m.ctxLen }

func (m *fakeModel) Forward(ctx context.Context, ids []int, start, last int) ([]float32, error) {
	if !m.busy.CompareAndSwap(false, true) {
		return nil, errors.New("concurrent Forward")
	}
	defer m.busy.Store(false)
	m.calls = append(m.calls, call{append([]int(nil), ids...), start, last})
	if m.hook != nil {
		if err := m.hook(ctx, len(m.calls)); err != nil {
			return nil, err
		}
	}
	if err := m.fail; err != nil {
		m.fail = nil
		return nil, err
	}
	if start > len(m.seq) || len(ids) == 0 || last < 1 || last > len(ids) || start+len(ids) > m.ctxLen {
		return nil, fmt.Errorf("bad Forward(%d ids, start %d, last %d) with %d fed", len(ids), start, last, len(m.seq))
	}
	m.seq = append(m.seq[:start], ids...)
	n := m.VocabSize()
	logits := make([]float32, last*n)
	for r := range last {
		row := logits[r*n : (r+1)*n]
		copy(row, m.base)
		// Row r is the choice after position len(m.seq)-last+r.
		step := len(m.seq) - last + r + 1 - m.promptLen
		if step >= 0 && step < len(m.script) {
			margin := m.margin
			if margin == 0 {
				margin = 10
			}
			row[m.script[step]] = margin
		}
	}
	return logits, nil
}
