package batch

import (
	"context"
	"errors"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// TestBench: each call of a run decodes its tokens whatever EOS says, more calls
// than the running slots queue and still count, no prompt starts from another's
// cached blocks, and bad arguments are errors.
func TestBench(t *testing.T) {
	ctx := context.Background()
	f := newFake(512, 4, 256)
	f.gate, f.eosEvery = nil, 3
	s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, _, err := s.GenerateIDs(ctx, []int{1, 5, 6}, engine.Request{MaxTokens: 10}, nil)
	if err != nil || res.Stop != engine.StopEOS || res.Tokens >= 10 {
		t.Fatalf("a plain call: %+v, %v; want it stopped by the fake's EOS", res, err)
	}
	before := s.Stats()
	p, err := s.Bench(ctx, 6, 9, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Seqs != 6 || p.Tokens != 60 || p.Running != 4 {
		t.Errorf("Bench: %d calls, %d tokens, %d running; want 6 calls of 10 tokens, 4 running", p.Seqs, p.Tokens, p.Running)
	}
	if !(p.TokS > 0 && p.WallS > 0 && p.TTFTms >= 0 && p.ITLms >= 0) || p.TokS != float64(p.Tokens)/p.WallS {
		t.Errorf("Bench figures %+v", p)
	}
	after := s.Stats()
	if hits := after.PrefixHits - before.PrefixHits; hits != 0 {
		t.Errorf("%d prefix-cache hits: the runs' prompts repeat", hits)
	}
	if q := after.PrefixQueries - before.PrefixQueries; q != 3*6*2 { // 3 runs x 6 prompts x 2 full blocks of 4 in 9 ids
		t.Errorf("%d prefix-cache queries, want 36", q)
	}
	for _, bad := range [][4]int{{0, 9, 10, 1}, {1, 0, 10, 1}, {1, 9, 0, 1}, {1, 9, 10, 0}} {
		if _, err := s.Bench(ctx, bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("Bench%v: no error", bad)
		}
	}
	if _, err := s.Bench(ctx, 1, 250, 10, 1); !errors.Is(err, engine.ErrContextLength) {
		t.Errorf("Bench past the context: %v, want ErrContextLength", err)
	}
}
