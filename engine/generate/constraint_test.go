package generate

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// spell is a fake Constraint that allows only the bytes of text, then EOS, and
// forces the bytes from forcedAt on.
type spell struct {
	text     string
	forcedAt int
	pos      int
	advanced []int
	prepared []int // pos at each Prepare
}

func (s *spell) Prepare() { s.prepared = append(s.prepared, s.pos) }

func (s *spell) next() int {
	if s.pos < len(s.text) {
		return int(s.text[s.pos])
	}
	return eos
}

func (s *spell) Filter(logits []float32) error {
	for i := range logits {
		if i != s.next() {
			logits[i] = float32(math.Inf(-1))
		}
	}
	return nil
}

func (s *spell) Advance(id int) error {
	if id != s.next() {
		return errors.New("not allowed")
	}
	s.advanced = append(s.advanced, id)
	s.pos++
	return nil
}

func (s *spell) Forced() []int {
	if s.pos < s.forcedAt || s.pos >= len(s.text) {
		return nil
	}
	return tok.Encode(s.text[s.pos:])
}

// TestGenerateConstrained: the constraint overrides the model's choice, every
// token goes through Advance, and forced tokens are fed in one forward pass.
func TestGenerateConstrained(t *testing.T) {
	prompt := []int{bos, 'p'}
	m := &fakeModel{promptLen: 2, script: tok.script("xxxxxxxx"), ctxLen: 20}
	c := &spell{text: "abcd", forcedAt: 2}
	res, ids, err := newGen(m).GenerateConstrained(context.Background(), prompt, engine.Request{}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(tok.Encode("abcd"), eos); !slices.Equal(ids, want) || !slices.Equal(c.advanced, want) || res.Text != "abcd" {
		t.Fatalf("ids %v advanced %v text %q, want %v", ids, c.advanced, res.Text, want)
	}
	// prompt, "a", then "b" with the forced "cd" in one pass.
	if len(m.calls) != 3 || !slices.Equal(m.calls[2].ids, tok.Encode("bcd")) || m.calls[2].start != 3 {
		t.Errorf("forward calls %+v, want the last to feed \"bcd\" at 3", m.calls)
	}
	// Prepared before each forward pass: after the prompt, after "a", after "bcd".
	if want := []int{0, 1, 4}; !slices.Equal(c.prepared, want) {
		t.Errorf("Prepare at positions %v, want %v", c.prepared, want)
	}
	if _, _, err := newGen(m).GenerateConstrained(context.Background(), prompt, engine.Request{}, nil, nil); err == nil {
		t.Error("nil constraint accepted")
	}
}
