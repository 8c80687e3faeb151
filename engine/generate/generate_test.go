package generate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

var tok byteTokenizer

func newGen(m *fakeModel) *Generator { return New(m, tok) }

func TestGenerate(t *testing.T) {
	tests := []struct {
		name     string
		prompt   string
		script   string // what the model says; a trailing EOS is added unless noEOS
		noEOS    bool
		req      engine.Request
		ctxLen   int
		text     string
		pieces   []string
		stop     engine.StopReason
		tokens   int
		ids      []int
		wantErr  error
		noFwd    bool // the model is never called
		errMatch string
	}{
		{name: "until EOS", prompt: "Hi", script: "hello",
			text: "hello", pieces: []string{"h", "e", "l", "l", "o"}, stop: engine.StopEOS, tokens: 6, ids: tok.script("hello")},
		{name: "max tokens", prompt: "Hi", script: "hello", req: engine.Request{MaxTokens: 3},
			text: "hel", pieces: []string{"h", "e", "l"}, stop: engine.StopLength, tokens: 3, ids: tok.Encode("hel")},
		{name: "stop string never emitted", prompt: "Q", script: "Plan: a\nObservation: b", req: engine.Request{Stop: []string{"\nObservation"}},
			text: "Plan: a", pieces: []string{"P", "l", "a", "n", ":", " ", "a"}, stop: engine.StopString, tokens: 19},
		{name: "held back text released at EOS", prompt: "Q", script: "ab\nObs", req: engine.Request{Stop: []string{"\nObservation"}},
			text: "ab\nObs", pieces: []string{"a", "b", "\nObs"}, stop: engine.StopEOS, tokens: 7},
		{name: "multibyte characters arrive whole", prompt: "Q", script: "né→",
			text: "né→", pieces: []string{"n", "é", "→"}, stop: engine.StopEOS, tokens: 7},
		{name: "cut character flushed at the end", prompt: "Q", script: "a\xe2\x86", noEOS: true, req: engine.Request{MaxTokens: 3},
			text: "a\xe2\x86", pieces: []string{"a", "\xe2\x86"}, stop: engine.StopLength, tokens: 3},
		{name: "context end stops generation", prompt: "Hi", script: "hello", ctxLen: 6,
			text: "hel", stop: engine.StopLength, tokens: 3},
		{name: "prompt filling the context", prompt: "Hello", script: "x", ctxLen: 6,
			wantErr: engine.ErrContextLength, noFwd: true},
		{name: "bad sampling", prompt: "Q", script: "x", req: engine.Request{Sampling: engine.Sampling{TopP: 2}},
			errMatch: "top-p", noFwd: true},
		{name: "empty stop string", prompt: "Q", script: "x", req: engine.Request{Stop: []string{""}},
			errMatch: "empty stop", noFwd: true},
		{name: "negative max tokens", prompt: "Q", script: "x", req: engine.Request{MaxTokens: -1},
			errMatch: "max tokens", noFwd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := tok.script(tt.script)
			if tt.noEOS {
				script = tok.Encode(tt.script)
			}
			m := &fakeModel{promptLen: len(tok.ids(tt.prompt)), script: script, ctxLen: 100}
			if tt.ctxLen > 0 {
				m.ctxLen = tt.ctxLen
			}
			g := newGen(m)
			var pieces []string
			req := tt.req
			req.Prompt = tt.prompt
			res, err := g.Generate(context.Background(), req, func(s string) error {
				pieces = append(pieces, s)
				return nil
			})
			if tt.noFwd && len(m.calls) > 0 {
				t.Errorf("model called %d times", len(m.calls))
			}
			switch {
			case tt.wantErr != nil || tt.errMatch != "":
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("error %v, want %v %q", err, tt.wantErr, tt.errMatch)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if res.Text != tt.text || res.Stop != tt.stop || res.Tokens != tt.tokens || res.PromptTokens != m.promptLen {
				t.Errorf("result %+v, want text %q stop %q tokens %d prompt tokens %d", res, tt.text, tt.stop, tt.tokens, m.promptLen)
			}
			if tt.pieces != nil && !slices.Equal(pieces, tt.pieces) {
				t.Errorf("pieces %q, want %q", pieces, tt.pieces)
			}
			if strings.Join(pieces, "") != res.Text {
				t.Errorf("pieces %q do not add up to the text %q", pieces, res.Text)
			}
			// The prompt goes in one batched call, BOS first; then one id per call.
			if first := m.calls[0]; !slices.Equal(first.ids, tok.ids(tt.prompt)) || first.start != 0 {
				t.Errorf("first Forward(%v, %d), want the prompt with BOS at 0", first.ids, first.start)
			}
			for i, c := range m.calls[1:] {
				if len(c.ids) != 1 || c.start != m.promptLen+i {
					t.Errorf("Forward %d: %v at %d", i+1, c.ids, c.start)
				}
			}
			if len(m.calls) > res.Tokens {
				t.Errorf("%d Forward calls for %d tokens: the last token needs no Forward", len(m.calls), res.Tokens)
			}
		})
	}
}

func TestGenerateIDs(t *testing.T) {
	prompt := []int{bos, 'a', 'b'}
	m := &fakeModel{promptLen: 3, script: tok.script("xy"), ctxLen: 10}
	res, ids, err := newGen(m).GenerateIDs(context.Background(), prompt, engine.Request{Prompt: "ignored"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{'x', 'y', eos}; !slices.Equal(ids, want) || res.Text != "xy" || res.PromptTokens != 3 {
		t.Errorf("ids %v text %q prompt tokens %d, want %v \"xy\" 3", ids, res.Text, res.PromptTokens, want)
	}
	if !slices.Equal(m.calls[0].ids, prompt) {
		t.Errorf("prompt fed as %v, want %v as given", m.calls[0].ids, prompt)
	}
	for _, bad := range [][]int{nil, {bos, vocab}, {-1}} {
		if _, _, err := newGen(m).GenerateIDs(context.Background(), bad, engine.Request{}, nil); err == nil {
			t.Errorf("prompt %v accepted", bad)
		}
	}
}

// TestPenaltyCoversPromptAndOutput: the scripted token leads a runner-up by a little,
// and the penalty hands the win to the runner-up once the token was seen, in the
// prompt or in the output.
func TestPenaltyCoversPromptAndOutput(t *testing.T) {
	tests := []struct {
		name    string
		prompt  []int
		penalty float64
		want    []int
	}{
		{"no penalty", []int{bos, 'a'}, 0, []int{'a', 'a'}},
		{"seen in the prompt", []int{bos, 'a'}, 2, []int{'x', 'a'}}, // then x is seen: 0.4 < 0.5,
		{"seen in the output", []int{bos, 'b'}, 2, []int{'a', 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := make([]float32, vocab)
			base['x'] = 0.8
			m := &fakeModel{promptLen: len(tt.prompt), script: []int{'a', 'a'}, ctxLen: 10, margin: 1, base: base}
			req := engine.Request{MaxTokens: 2, Sampling: engine.Sampling{RepetitionPenalty: tt.penalty}}
			_, ids, err := newGen(m).GenerateIDs(context.Background(), tt.prompt, req, nil)
			if err != nil || !slices.Equal(ids, tt.want) {
				t.Fatalf("ids %v, %v; want %v", ids, err, tt.want)
			}
		})
	}
}

// TestCacheReuse: a prompt extending the previous call's prompt and output only
// feeds its new tokens; a different prompt rewinds to the shared prefix.
func TestCacheReuse(t *testing.T) {
	m := &fakeModel{promptLen: 3, script: tok.script("cd"), ctxLen: 100}
	g := newGen(m)
	res, err := g.Generate(context.Background(), engine.Request{Prompt: "ab"}, nil)
	if err != nil || res.Text != "cd" {
		t.Fatalf("first call: %q, %v", res.Text, err)
	}
	// Fed: BOS a b c d (EOS was sampled, never fed).
	m.calls, m.promptLen = nil, 6
	if _, err := g.Generate(context.Background(), engine.Request{Prompt: "abcde"}, nil); err != nil {
		t.Fatal(err)
	}
	if c := m.calls[0]; c.start != 5 || !slices.Equal(c.ids, []int{'e'}) {
		t.Errorf("extending prompt fed %v at %d, want [e] at 5", c.ids, c.start)
	}
	m.calls, m.promptLen = nil, 4
	if _, err := g.Generate(context.Background(), engine.Request{Prompt: "axy"}, nil); err != nil {
		t.Fatal(err)
	}
	if c := m.calls[0]; c.start != 2 || !slices.Equal(c.ids, []int{'x', 'y'}) {
		t.Errorf("diverging prompt fed %v at %d, want [x y] at 2", c.ids, c.start)
	}
	m.calls, m.promptLen = nil, 3
	if _, err := g.Generate(context.Background(), engine.Request{Prompt: "ax"}, nil); err != nil {
		t.Fatal(err)
	}
	if c := m.calls[0]; c.start != 2 || !slices.Equal(c.ids, []int{'x'}) {
		t.Errorf("prefix of the cache fed %v at %d, want its last token [x] at 2", c.ids, c.start)
	}
	// A failed Forward leaves only the positions before it trusted.
	m.calls, m.promptLen = nil, 4
	m.fail = errors.New("device lost")
	if _, err := g.Generate(context.Background(), engine.Request{Prompt: "axz"}, nil); err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Fatalf("error %v, want the model's", err)
	}
	m.calls = nil
	if _, err := g.Generate(context.Background(), engine.Request{Prompt: "axz"}, nil); err != nil {
		t.Fatal(err)
	}
	if c := m.calls[0]; c.start != 3 || !slices.Equal(c.ids, []int{'z'}) {
		t.Errorf("after a failure fed %v at %d, want [z] at 3", c.ids, c.start)
	}
}

func TestCancel(t *testing.T) {
	t.Run("from onText", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m := &fakeModel{promptLen: 2, script: tok.script("abcdef"), ctxLen: 100}
		m.hook = func(ctx context.Context, _ int) error { return ctx.Err() }
		res, ids, err := newGen(m).GenerateIDs(ctx, []int{bos, 'q'}, engine.Request{}, func(s string) error {
			if s == "b" {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || res.Text != "ab" || len(ids) != 2 {
			t.Errorf("err %v text %q ids %v, want canceled after \"ab\"", err, res.Text, ids)
		}
	})
	t.Run("during prefill", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		m := &fakeModel{promptLen: 2, script: tok.script("abc"), ctxLen: 100}
		m.hook = func(ctx context.Context, n int) error {
			cancel()
			return ctx.Err()
		}
		if _, err := newGen(m).Generate(ctx, engine.Request{Prompt: "q"}, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want canceled", err)
		}
	})
	t.Run("onText error", func(t *testing.T) {
		boom := errors.New("client went away")
		m := &fakeModel{promptLen: 2, script: tok.script("abc"), ctxLen: 100}
		res, err := newGen(m).Generate(context.Background(), engine.Request{Prompt: "q"}, func(string) error { return boom })
		if !errors.Is(err, boom) || res.Text != "a" || res.Tokens != 1 {
			t.Errorf("err %v result %+v, want the callback's error after one token", err, res)
		}
	})
	t.Run("waiting for the model", func(t *testing.T) {
		m := &fakeModel{promptLen: 2, script: tok.script("abc"), ctxLen: 100}
		g := newGen(m)
		g.turn <- struct{}{} // another call holds the model
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := g.Generate(ctx, engine.Request{Prompt: "q"}, nil); !errors.Is(err, context.Canceled) || len(m.calls) > 0 {
			t.Errorf("error %v after %d calls, want canceled before any", err, len(m.calls))
		}
	})
}

func TestConcurrentCallsTakeTurns(t *testing.T) {
	m := &fakeModel{promptLen: 2, script: tok.script("abcdefgh"), ctxLen: 100}
	g := newGen(m)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			res, err := g.Generate(context.Background(), engine.Request{Prompt: "q"}, nil)
			if err == nil && res.Text != "abcdefgh" {
				err = errors.New("text " + res.Text)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestCountTokens(t *testing.T) {
	g := newGen(&fakeModel{ctxLen: 77})
	if n, err := g.CountTokens("abc"); err != nil || n != 4 {
		t.Errorf("CountTokens = %d, %v; want 4 (BOS + 3)", n, err)
	}
	if g.ContextLength() != 77 {
		t.Errorf("ContextLength = %d", g.ContextLength())
	}
}
