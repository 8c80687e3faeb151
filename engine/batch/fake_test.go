package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// fakeModel stands in for a paged model: its "cache" holds the token fed at each
// slot, read back through the block tables, and the next token is a hash of the
// tokens a row attends to, so a wrong table gives other tokens. When gate is set,
// each step waits for a value on it (or ctx). With spread, every logit of a row is
// distinct (a permutation, by that hash, of evenly spaced values, some negative),
// so sampling has no ties. With eosEvery, every row at a position that is a
// multiple of it gives id 2 (EOS for idTok{eos: 2}).
type fakeModel struct {
	blocks, bs, ctxLen, vocab int
	slots                     []int32
	gate                      chan struct{}
	spread                    bool
	eosEvery                  int
	delay                     time.Duration // each step takes at least this long

	mu    sync.Mutex
	steps []engine.Batch // every step's rows, in order
}

func newFake(blocks, bs, ctxLen int) *fakeModel {
	return &fakeModel{blocks: blocks, bs: bs, ctxLen: ctxLen, vocab: 50, slots: make([]int32, blocks*bs),
		gate: make(chan struct{})}
}

func (f *fakeModel) ForwardBatch(ctx context.Context, b engine.Batch, want []int) ([]float32, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	f.steps = append(f.steps, b)
	f.mu.Unlock()
	slot := func(i, p int) int { return int(b.Tables[b.Seq[i]][p/f.bs])*f.bs + p%f.bs }
	for i := range b.IDs {
		f.slots[slot(i, int(b.Pos[i]))] = b.IDs[i]
	}
	out := make([]float32, len(want)*f.vocab)
	for w, i := range want {
		h := 7
		for p := 0; p <= int(b.Pos[i]); p++ {
			h = h*31 + int(f.slots[slot(i, p)])
		}
		if f.eosEvery > 0 && int(b.Pos[i])%f.eosEvery == 0 {
			out[w*f.vocab+2] = 1
			continue
		}
		if f.spread {
			for v := range f.vocab {
				out[w*f.vocab+v] = float32(((v*37+h)%f.vocab+f.vocab)%f.vocab-20) * 0.173
			}
			continue
		}
		out[w*f.vocab+3+(h%(f.vocab-3)+f.vocab-3)%(f.vocab-3)] = 1
	}
	return out, nil
}
func (f *fakeModel) Paged() (int, int)  { return f.blocks, f.bs }
func (f *fakeModel) MaxBatch() int      { return 32 }
func (f *fakeModel) VocabSize() int     { return f.vocab }
func (f *fakeModel) ContextLength() int { return f.ctxLen }

type call struct {
	ids []int
	err error
}

// start runs GenerateIDs in a goroutine; the result arrives on the channel.
func start(ctx context.Context, s *Scheduler, prompt []int, maxTokens int) chan call {
	c := make(chan call, 1)
	go func() {
		_, ids, err := s.GenerateIDs(ctx, prompt, engine.Request{MaxTokens: maxTokens}, nil)
		c <- call{ids, err}
	}()
	return c
}

// TestCancelFreesSlot: with one slot, cancelling the running call lets the queued
// one start at the next step, long before the cancelled one would have ended.
func TestCancelFreesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(64, 4, 256)
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctxA, cancelA := context.WithCancel(context.Background())
		a := start(ctxA, s, []int{1, 5, 6, 7}, 200)
		synctest.Wait()
		b := start(context.Background(), s, []int{1, 9, 9}, 3)
		synctest.Wait()
		if st := s.Stats(); st.Running != 1 || st.Waiting != 1 {
			t.Fatalf("stats %+v, want one running and one waiting", st)
		}
		f.gate <- struct{}{}
		f.gate <- struct{}{}
		synctest.Wait()
		cancelA()
		ra := <-a
		if !errors.Is(ra.err, context.Canceled) || len(ra.ids) >= 200 {
			t.Fatalf("cancelled call: %d ids, %v", len(ra.ids), ra.err)
		}
		steps := 0
		var rb call
	pump:
		for {
			select {
			case f.gate <- struct{}{}:
				steps++
			case rb = <-b:
				break pump
			}
		}
		// B needs 3 steps (its prompt, then two decodes); A may hold one more.
		if rb.err != nil || len(rb.ids) != 3 || steps > 4 {
			t.Errorf("queued call: %v, %v after %d more steps", rb.ids, rb.err, steps)
		}
		if st := s.Stats(); st.Running != 0 || st.BlocksUsed != 0 {
			t.Errorf("stats %+v: slots or blocks left in use", st)
		}
	})
}

// TestBusy: past the queue's bound a call fails at once with ErrBusy; Close ends
// the running and the waiting call with ErrClosed, and later calls too.
func TestBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(64, 4, 256)
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 1, MaxQueue: 1})
		if err != nil {
			t.Fatal(err)
		}
		a := start(context.Background(), s, []int{1, 5}, 50)
		synctest.Wait()
		b := start(context.Background(), s, []int{1, 6}, 50)
		synctest.Wait()
		_, _, err = s.GenerateIDs(context.Background(), []int{1, 7}, engine.Request{}, nil)
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("third call: %v, want ErrBusy", err)
		}
		s.Close()
		for _, c := range []chan call{a, b} {
			if r := <-c; !errors.Is(r.err, ErrClosed) {
				t.Errorf("call at Close: %v, want ErrClosed", r.err)
			}
		}
		if _, _, err := s.GenerateIDs(context.Background(), []int{1}, engine.Request{}, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Close: %v, want ErrClosed", err)
		}
	})
}

// TestPagingWithFake: many sequences through a small pool (preemption, shared
// prefixes) give the tokens each gives alone on the fake, which reads every
// position back through the block tables.
func TestPagingWithFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := prompts(10, newOpenFake().vocab)
		var want [][]int
		for _, p := range ps {
			s, err := New(newOpenFake(), idTok{bos: 1, eos: 2}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, ids, err := s.GenerateIDs(context.Background(), p, engine.Request{MaxTokens: 20}, nil)
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, ids)
		}
		f := newFake(16, 4, 64)
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 10, StepTokens: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var cs []chan call
		for _, p := range ps {
			cs = append(cs, start(context.Background(), s, p, 20))
		}
		// Every call is queued before the steps run, so they compete for blocks.
		synctest.Wait()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case f.gate <- struct{}{}:
				case <-stop:
					return
				}
			}
		}()
		for i, c := range cs {
			if r := <-c; r.err != nil || !slices.Equal(r.ids, want[i]) {
				t.Errorf("sequence %d: %v (%v), alone %v", i, r.ids, r.err, want[i])
			}
		}
		if st := s.Stats(); st.Preemptions == 0 || st.PrefixHits == 0 {
			t.Errorf("stats %+v: want preemptions and prefix hits", st)
		}
	})
}

// newOpenFake is a fake of 16 blocks of 4 positions whose steps never wait.
func newOpenFake() *fakeModel {
	f := newFake(16, 4, 64)
	f.gate = nil
	return f
}

// TestBadRequests: bad calls fail with clear errors before they take a slot.
func TestBadRequests(t *testing.T) {
	s, err := New(newOpenFake(), idTok{bos: 1, eos: 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long := make([]int, 64)
	for _, tc := range []struct {
		name   string
		prompt []int
		req    engine.Request
		is     error
	}{
		{"empty", nil, engine.Request{}, nil},
		{"too long", long, engine.Request{}, engine.ErrContextLength},
		{"id out of range", []int{1, 50}, engine.Request{}, engine.ErrIDRange},
		{"negative max tokens", []int{1}, engine.Request{MaxTokens: -1}, nil},
		{"bad sampling", []int{1}, engine.Request{Sampling: engine.Sampling{Temperature: -1}}, nil},
	} {
		_, _, err := s.GenerateIDs(context.Background(), tc.prompt, tc.req, nil)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: %v, want an error (%v)", tc.name, err, tc.is)
		}
	}
	if st := s.Stats(); st.Waiting != 0 || st.Running != 0 {
		t.Errorf("stats %+v after bad calls", st)
	}
	if _, err := New(&fakeModel{ctxLen: 64, vocab: 50}, idTok{}, Options{}); !errors.Is(err, ErrNoPagedCache) {
		t.Errorf("New without a paged cache: %v", err)
	}
	if _, err := New(newFake(8, 4, 64), idTok{}, Options{}); err == nil {
		t.Errorf("New with a pool smaller than one context: no error")
	}
}

// TestLongPromptInterleaved: a long prompt arriving while a sequence decodes is
// prefilled in chunks of at most StepTokens rows, and every one of those steps
// also carries the running sequence's decode row.
func TestLongPromptInterleaved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(64, 4, 256)
		const stepRows = 8
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{StepTokens: stepRows})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a := start(context.Background(), s, []int{1, 4, 5}, 40)
		synctest.Wait()
		f.gate <- struct{}{} // a's prompt
		synctest.Wait()
		long := make([]int, 50)
		for i := range long {
			long[i] = 3 + i%40
		}
		b := start(context.Background(), s, long, 2)
		synctest.Wait()
		done := 0
		for done < 2 {
			select {
			case f.gate <- struct{}{}:
			case r := <-a:
				if r.err != nil || len(r.ids) != 40 {
					t.Errorf("decoding call: %d ids, %v", len(r.ids), r.err)
				}
				done++
			case r := <-b:
				if r.err != nil || len(r.ids) != 2 {
					t.Errorf("long call: %d ids, %v", len(r.ids), r.err)
				}
				done++
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		chunks := 0
		for i, st := range f.steps {
			if len(st.IDs) > stepRows {
				t.Errorf("step %d has %d rows, more than %d", i, len(st.IDs), stepRows)
			}
			rows := map[int32]int{}
			for _, q := range st.Seq {
				rows[q]++
			}
			if len(st.IDs) > 1 && i > 0 {
				chunks++
				if len(rows) != 2 {
					t.Errorf("step %d: a prompt chunk without the running decode (%v rows by sequence)", i, rows)
				}
			}
		}
		if chunks < 50/stepRows {
			t.Errorf("the long prompt went in %d chunks, want at least %d", chunks, 50/stepRows)
		}
	})
}

// TestMixedStepTokens: a long prompt with nothing decoding beside it goes in steps
// of StepTokens rows; one arriving while a sequence decodes goes in steps of at most
// MixedStepTokens rows, the decode's row among them.
func TestMixedStepTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(64, 4, 256)
		const stepRows, mixedRows = 16, 6
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{StepTokens: stepRows, MixedStepTokens: mixedRows})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		long := make([]int, 50)
		for i := range long {
			long[i] = 3 + i%40
		}
		a := start(context.Background(), s, long, 40)
		synctest.Wait()
		for range 4 { // a's prompt: ceil(50/16) steps alone
			f.gate <- struct{}{}
			synctest.Wait()
		}
		other := make([]int, 30) // no prefix in common with a's
		for i := range other {
			other[i] = 43 - i%40
		}
		b := start(context.Background(), s, other, 2)
		synctest.Wait()
		for done := 0; done < 2; {
			select {
			case f.gate <- struct{}{}:
			case r := <-a:
				if r.err != nil || len(r.ids) != 40 {
					t.Errorf("first call: %d ids, %v", len(r.ids), r.err)
				}
				done++
			case r := <-b:
				if r.err != nil || len(r.ids) != 2 {
					t.Errorf("second call: %d ids, %v", len(r.ids), r.err)
				}
				done++
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, st := range f.steps[:4] {
			if want := min(stepRows, 50-stepRows*i); len(st.IDs) != want {
				t.Errorf("step %d of the prompt alone: %d rows, want %d", i, len(st.IDs), want)
			}
		}
		mixed := 0
		for i, st := range f.steps[4:] {
			if len(st.IDs) > mixedRows {
				t.Errorf("step %d beside a decode: %d rows, more than %d", i+4, len(st.IDs), mixedRows)
			}
			if len(st.IDs) > 2 {
				mixed++
			}
		}
		if mixed < 30/mixedRows {
			t.Errorf("the second prompt went in %d chunks, want at least %d", mixed, 30/mixedRows)
		}
	})
}

// TestFinishedSlotRefilled: with one slot, the call waiting behind one that ends
// at its token limit is prefilled in the very next step.
func TestFinishedSlotRefilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(16, 4, 64)
		s, err := New(f, idTok{bos: 1, eos: 2}, Options{MaxSequences: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a := start(context.Background(), s, []int{1, 5}, 2)
		synctest.Wait()
		b := start(context.Background(), s, []int{1, 9, 9}, 1)
		synctest.Wait()
		for range 3 {
			f.gate <- struct{}{}
			synctest.Wait()
		}
		for _, c := range []chan call{a, b} {
			if r := <-c; r.err != nil {
				t.Fatal(r.err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.steps) != 3 || !slices.Equal(f.steps[2].IDs, []int32{1, 9, 9}) {
			t.Errorf("steps %+v: want A's prefill, A's decode, then B's prompt", f.steps)
		}
	})
}
