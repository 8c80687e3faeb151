package batch

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/llama"
)

// spell is a Constraint that allows only the ids of text in order, then EOS, and
// forces the rest of them from forcedAt on.
type spell struct {
	text          []int
	eos, forcedAt int
	pos           int
	advanced      []int
}

func (s *spell) next() int {
	if s.pos < len(s.text) {
		return s.text[s.pos]
	}
	return s.eos
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
	return slices.Clone(s.text[s.pos:])
}

// TestConstrainedMatchesGenerate: constrained calls, running beside unconstrained
// ones, give the ids and the Advance calls of generate's GenerateConstrained, with
// forced tokens fed as a chunk.
func TestConstrainedMatchesGenerate(t *testing.T) {
	dir := checkpoints[1].dir(t)
	ctx := context.Background()
	text := []int{40, 41, 42, 43, 44, 45}
	d := open(t, dir, nil)
	g := generate.New(d, idTok{bos: 1, eos: 2})
	prompt := []int{1, 7, 8, 9}
	ref := &spell{text: text, eos: 2, forcedAt: 2}
	_, want, err := g.GenerateConstrained(ctx, prompt, engine.Request{}, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, dir, &llama.Paged{Sequences: 8})
	s := newScheduler(t, m, Options{})
	ps := prompts(4, m.VocabSize())
	free := alone(t, dir, ps, engine.Request{MaxTokens: 10})
	var wg sync.WaitGroup
	got := make([]outcome, len(ps))
	for i, p := range ps {
		wg.Go(func() {
			_, ids, err := s.GenerateIDs(ctx, p, engine.Request{MaxTokens: 10}, nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = outcome{ids: ids, stop: free[i].stop}
		})
	}
	c := &spell{text: text, eos: 2, forcedAt: 2}
	_, ids, err := s.GenerateConstrained(ctx, prompt, engine.Request{}, c, nil)
	wg.Wait()
	if err != nil || !slices.Equal(ids, want) || !slices.Equal(c.advanced, ref.advanced) {
		t.Errorf("constrained: %v (advanced %v, %v), generate %v (advanced %v)", ids, c.advanced, err, want, ref.advanced)
	}
	compare(t, "beside a constrained call", got, free)
	if _, _, err := s.GenerateConstrained(ctx, prompt, engine.Request{}, nil, nil); err == nil {
		t.Error("nil constraint accepted")
	}
	bad := &spell{text: text, eos: 2, forcedAt: 99}
	bad.text = []int{200} // outside the vocabulary: Filter leaves nothing to sample
	if _, _, err := s.GenerateConstrained(ctx, prompt, engine.Request{}, bad, nil); err == nil {
		t.Error("a constraint that allows no token: no error")
	}
}
