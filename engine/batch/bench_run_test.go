package batch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// TestBench: each call of a run decodes its tokens whatever EOS says, more calls
// than the running slots queue and still count, no prompt starts from another's
// cached blocks, and bad arguments are errors.
func TestBench(t *testing.T) {
	// In a bubble each 1 ms step of the fake lasts until every call has enqueued,
	// however the goroutines are scheduled, so the calls of a run decode together.
	synctest.Test(t, testBench)
}

func testBench(t *testing.T) {
	ctx := context.Background()
	f := newFake(512, 4, 256)
	f.gate, f.eosEvery, f.delay = nil, 3, time.Millisecond
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
	// 6 calls on 4 slots: the first 4 decode together after their prompts until
	// they end, so full steps (4 decodes, no prompt) are there, each one of the
	// fake's 1 ms steps.
	if p.Steps < 1 || p.StepMs != 1 || p.StepMs*float64(p.Steps) > p.WallS*1e3 {
		t.Errorf("full decode steps: %d of %.3f ms in a %.3f s run", p.Steps, p.StepMs, p.WallS)
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

// TestFullSteps: a run's full decode steps are those of the most decoding rows any
// step carried and no prompt chunk; a step's rows are counted as the scheduler plans
// them.
func TestFullSteps(t *testing.T) {
	var f fullSteps
	if r, ms, n := f.mean(); r != 0 || ms != 0 || n != 0 {
		t.Errorf("no steps: %d running, %v ms, %d steps", r, ms, n)
	}
	f.add(3, 0, time.Millisecond)
	f.add(4, 0, 2*time.Millisecond)
	f.add(4, 9, 50*time.Millisecond) // a prompt chunk beside the decodes
	f.add(3, 0, time.Millisecond)    // a call already ended
	f.add(4, 0, 4*time.Millisecond)
	if r, ms, n := f.mean(); r != 4 || ms != 3 || n != 2 {
		t.Errorf("%d running, mean %v ms of %d steps; want 4 running, 3 ms of 2", r, ms, n)
	}
	var g fullSteps // the most rows only ever beside a prompt chunk
	g.add(2, 0, time.Millisecond)
	g.add(5, 7, time.Millisecond)
	if r, ms, n := g.mean(); r != 5 || ms != 0 || n != 0 {
		t.Errorf("%d running, mean %v ms of %d steps; want 5 running and no full step", r, ms, n)
	}
	q := &seq{}
	parts := []part{{q: q, n: 1, want: true}, {q: q, n: 1, want: true}, {q: q, n: 7, want: false}, {q: q, n: 3, want: true}}
	if d, p := rowsOf(parts); d != 2 || p != 10 {
		t.Errorf("rowsOf: %d decodes, %d prompt rows; want 2 and 10", d, p)
	}
}

// TestBenchPoolBound: when the paged cache holds fewer sequences than the running
// slots, Running is what the steps decoded, not the slots, and every call still
// gets its tokens.
func TestBenchPoolBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 12 blocks of 4 positions: each call's 17 prompt ids take 5, so at most
		// two of the four calls are admitted at once.
		f := newFake(12, 4, 20)
		f.gate, f.delay = nil, time.Millisecond
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		p, err := s.Bench(context.Background(), 4, 17, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p.Tokens != 12 || p.Running != 2 {
			t.Errorf("Bench: %d tokens, %d running; want 12 tokens and 2 running (12 blocks)", p.Tokens, p.Running)
		}
	})
}

// TestBenchAlone: a second bench on the same scheduler while one runs is an error,
// not a mix of the two runs' steps.
func TestBenchAlone(t *testing.T) {
	f := newFake(512, 4, 256)
	s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := make(chan error, 1)
	go func() {
		_, err := s.Bench(context.Background(), 2, 5, 3, 1)
		first <- err
	}()
	for {
		s.mu.Lock()
		busy := s.onStep != nil
		s.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Bench(context.Background(), 1, 5, 3, 1); err == nil {
		t.Error("a second bench while one runs: no error")
	}
	close(f.gate) // let the first one's steps run
	if err := <-first; err != nil {
		t.Errorf("the first bench: %v", err)
	}
}
