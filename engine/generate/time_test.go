package generate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// TestTime: the timed path feeds the whole prompt from position 0 on every call,
// even when the cache holds it, then decodes exactly n tokens one at a time, past
// EOS.
func TestTime(t *testing.T) {
	prompt := []int{bos, 'a', 'b'}
	m := &fakeModel{promptLen: 3, script: []int{eos, 'x', 'y'}, ctxLen: 10}
	g := newGen(m)
	for run := range 2 {
		m.calls = nil
		res, err := g.Time(context.Background(), prompt, 3)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.Tokens != 3 || res.PromptTokens != 3 || res.Stop != engine.StopLength {
			t.Errorf("run %d: %+v, want 3 tokens after 3 prompt tokens", run, res)
		}
		if len(m.calls) != 4 || m.calls[0].start != 0 || !slices.Equal(m.calls[0].ids, prompt) {
			t.Fatalf("run %d: calls %+v, want the prompt at 0 then 3 single tokens", run, m.calls)
		}
		for i, c := range m.calls[1:] {
			if len(c.ids) != 1 || c.start != 3+i {
				t.Errorf("run %d: decode step %d fed %v at %d", run, i, c.ids, c.start)
			}
		}
	}
	if _, err := g.Time(context.Background(), prompt, 8); !errors.Is(err, engine.ErrContextLength) {
		t.Errorf("3+8 tokens in a context of 10: %v, want ErrContextLength", err)
	}
	if _, err := g.Time(context.Background(), []int{bos, vocab + 5}, 1); !errors.Is(err, engine.ErrIDRange) {
		t.Errorf("id outside the vocabulary: %v, want ErrIDRange", err)
	}
}

// TestPromptIDsChecked: an id outside the vocabulary is refused before the model
// runs, naming the id and the vocabulary.
func TestPromptIDsChecked(t *testing.T) {
	m := &fakeModel{promptLen: 2, script: tok.script("x"), ctxLen: 10}
	_, _, err := newGen(m).GenerateIDs(context.Background(), []int{bos, 5000}, engine.Request{}, nil)
	if !errors.Is(err, engine.ErrIDRange) || len(m.calls) != 0 {
		t.Fatalf("err %v after %d calls, want ErrIDRange before any", err, len(m.calls))
	}
	if want := "token 2 is id 5000, but the vocabulary has 258 ids"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestBench: a warm-up run then the timed ones, each over the same in-vocabulary
// prompt from position 0; bad sizes and a context too small are errors.
func TestBench(t *testing.T) {
	m := &fakeModel{promptLen: 4, script: []int{'x', 'y'}, ctxLen: 10}
	g := newGen(m)
	var runs []int
	if _, _, err := g.Bench(context.Background(), 4, 2, 3, func(run int, r engine.Result) {
		runs = append(runs, run)
		if r.PromptTokens != 4 || r.Tokens != 2 {
			t.Errorf("run %d: %+v", run, r)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []int{0, 1, 2, 3}) {
		t.Errorf("runs reported %v, want the warm-up and 3", runs)
	}
	var prompts [][]int
	for _, c := range m.calls {
		if c.start == 0 {
			prompts = append(prompts, c.ids)
			for _, id := range c.ids {
				if id < 3 || id >= vocab {
					t.Errorf("prompt id %d outside [3, %d)", id, vocab)
				}
			}
		}
	}
	if len(prompts) != 4 || !slices.Equal(prompts[0], prompts[3]) {
		t.Errorf("prompts %v, want the same 4 times", prompts)
	}
	for _, bad := range [][3]int{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}} {
		if _, _, err := g.Bench(context.Background(), bad[0], bad[1], bad[2], nil); err == nil {
			t.Errorf("Bench%v accepted", bad)
		}
	}
	if _, _, err := g.Bench(context.Background(), 8, 8, 1, nil); !errors.Is(err, engine.ErrContextLength) {
		t.Errorf("8+8 tokens in a context of 10: %v, want ErrContextLength", err)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{188, 172}, 180},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
