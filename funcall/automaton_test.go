package funcall

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

var (
	llamaOnce sync.Once
	llamaTok  *tokenizer.Tokenizer
	llamaErr  error
)

// llama is the LLaMA tokenizer of the fixtures.
func llama(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	llamaOnce.Do(func() { llamaTok, llamaErr = tokenizer.Load(fixtures.Tokenizer("tokenizer.model")) })
	if llamaErr != nil {
		t.Fatal(llamaErr)
	}
	return llamaTok
}

// testLimits are small enough that the tests reach them.
var testLimits = Limits{MaxString: 40, MaxNumber: 12, MaxSpace: 8}

// validCalls are calls of testdata/functions.yaml the automaton must admit.
var validCalls = []string{
	`{"function": "weather", "params": {"city": "Paris"}}`,
	`{"function":"weather","params":{"days":3,"city":"Oslo","metric":true}}`,
	"{\n  \"function\": \"convert\",\n  \"params\": {\n    \"amount\": 30.5,\n    \"from\": \"USD\",\n    \"to\": \"IQD\"\n  }\n}",
	`{"function": "convert", "params": {"to": "EUR", "amount": -0.25e-3, "from": "USD"}}`,
	`{"function": "convert", "params": {"amount": 0, "from": "a", "to": "b"}}`,
	`{"function": "convert", "params": {"amount": 1E+99, "from": "a", "to": "b"}}`,
	`{"function": "weather_alerts", "params": {"region": "Île-de-France 🌩"}}`,
	`{"function": "weather", "params": {"city": "Caf\u00e9 \"Z\"\n\\/", "days": -0, "metric": false}}`,
	`{"function": "weather", "params": {"city": ""}}`,
	`{"function": "now", "params": {}}`,
	` {"function": "now", "params": { }}`,
	`{"function": "weather", "params": {"city": "` + strings.Repeat("x", 40) + `"}}`,
	`{"function": "weather", "params": {"city": "x", "days": 123456789012345678}}`,
}

// invalidCalls must be rejected, each before its end or at it.
var invalidCalls = []string{
	`{"function": "wether", "params": {"city": "Paris"}}`,           // unknown function
	`{"function": "weather", "params": {"citty": "Paris"}}`,         // unknown param
	`{"function": "weather", "params": {"city": "A", "city": "B"}}`, // a param twice
	`{"function": "convert", "params": {"amount": 3, "to": "EUR"}}`, // missing required
	`{"function": "weather", "params": {"city": "A", "days": "3"}}`, // string for integer
	`{"function": "weather", "params": {"city": "A", "days": 2.5}}`, // fraction for integer
	`{"function": "weather", "params": {"city": "A", "days": 01}}`,  // leading zero
	`{"function": "weather", "params": {"city": "A", "metric": 1}}`, // number for boolean
	`{"function": "weather", "params": {"city": "A", "metric": True}}`,
	`{"function": "convert", "params": {"amount": "ten", "from": "a", "to": "b"}}`,
	`{"function": "convert", "params": {"amount": 1e100, "from": "a", "to": "b"}}`, // exponent of 3 digits
	`{"function": "convert", "params": {"amount": 1., "from": "a", "to": "b"}}`,
	`{"function": "convert", "params": {"amount": .5, "from": "a", "to": "b"}}`,
	`{"function": "weather", "params": {"city": 7}}`,
	`{"function": "weather", "params": {"city": "A",}}`, // trailing comma
	`{"params": {"city": "A"}, "function": "weather"}`,  // params first
	`{"function": "weather", "params": {"city": "A"}, "extra": 1}`,
	`{"function": "weather", "params": {"city": "A"}`,                                // unclosed
	`{"function": "weather", "params": {"city": "a` + "\t" + `b"}}`,                  // raw control byte
	`{"function": "weather", "params": {"city": "a\qb"}}`,                            // bad escape
	`{"function": "weather", "params": {"city": "a\u12G4"}}`,                         // bad \u
	`{"function": "weather", "params": {"city": "` + "\xff" + `"}}`,                  // not UTF-8
	`{"function": "weather", "params": {"city": "` + "\xc3(" + `"}}`,                 // broken UTF-8
	`{"function": "weather", "params": {"city": "` + strings.Repeat("x", 41) + `"}}`, // over MaxString
	`{"function": "weather", "params": {"city": "x", "days": 1234567890123456789}}`,  // over int64's digits
	`{"function": "weather",          "params": {"city": "x"}}`,                      // over MaxSpace
	`{'function': 'now', 'params': {}}`,
	`{"function": "now", "params": {}}}`,
	"function: now\nparams: {}",
	``,
}

func TestAutomatonAdmitsValidCalls(t *testing.T) {
	s := testSet(t)
	a := NewAutomaton(s, testLimits)
	for _, c := range validCalls {
		if !a.Accepts(c) {
			t.Errorf("rejected %q", c)
		}
		if len(c) > a.MaxLen() {
			t.Errorf("%q is %d bytes, over MaxLen %d", c, len(c), a.MaxLen())
		}
		if _, err := s.Parse(c); err != nil {
			t.Errorf("%q: the parser disagrees: %v", c, err)
		}
	}
}

func TestAutomatonRejectsInvalidCalls(t *testing.T) {
	s := testSet(t)
	a := NewAutomaton(s, testLimits)
	for _, c := range invalidCalls {
		if a.Accepts(c) {
			t.Errorf("admitted %q", c)
		}
	}
}

// walk feeds text's tokens (the LLaMA tokenizer's encoding, with the leading
// space it gives) through the masks, and returns how many the masks allowed and
// whether the call was complete after them.
func walk(t *testing.T, m *Masker, tok *tokenizer.Tokenizer, text string) (allowed, total int, done bool) {
	t.Helper()
	ids := tok.Encode(text)
	s := m.Automaton().Start()
	for i, id := range ids {
		if !m.Mask(s).Has(id) {
			return i, len(ids), false
		}
		var ok bool
		if s, ok = m.Advance(s, id); !ok {
			t.Fatalf("%q: token %d (%q) is in the mask but Advance refuses it", text, i, tok.Piece(id))
		}
	}
	return len(ids), len(ids), m.Automaton().Done(s)
}

func TestMaskTokenByToken(t *testing.T) {
	tok := llama(t)
	s := testSet(t)
	m := NewMasker(NewAutomaton(s, testLimits), TokenizerVocab(tok))
	for _, c := range validCalls {
		allowed, total, done := walk(t, m, tok, c)
		if allowed != total || !done {
			t.Errorf("%q: the masks allowed %d of %d tokens, complete %v", c, allowed, total, done)
		}
	}
	for _, c := range invalidCalls {
		if c == "" || !utf8.ValidString(c) { // the tokenizer cannot write invalid UTF-8
			continue
		}
		allowed, total, done := walk(t, m, tok, c)
		if allowed == total && done {
			t.Errorf("%q: every token allowed and the call complete", c)
		}
	}
	if hits, misses := m.CacheStats(); hits == 0 || misses == 0 {
		t.Errorf("cache hits %d, misses %d: the cache did nothing", hits, misses)
	}
}

// TestMaskIsExact checks cached masks against the brute force (feeding every
// token from the state) along calls, inside strings, numbers and white space
// too, where the cache merges states by their counters.
func TestMaskIsExact(t *testing.T) {
	tok := llama(t)
	vocab := TokenizerVocab(tok)
	a := NewAutomaton(testSet(t), testLimits)
	m := NewMasker(a, vocab)
	texts := []string{
		`{"function": "weather", "params": {"city": "` + strings.Repeat("ab", 19),
		`{"function": "weather", "params": {"city": "x", "days": 12345678901234`,
		`{"function": "convert", "params": {"amount": 1234567.5e`,
		`{"function": "convert", "params": {"amount": 12345678901`,
		"{\n      ",
	}
	for _, text := range texts {
		s := a.Start()
		for i := 0; i <= len(text); i++ {
			mask := m.Mask(s)
			for id, b := range vocab {
				_, ok := a.Feed(s, b)
				ok = ok && len(b) > 0
				if mask.Has(id) != ok {
					t.Fatalf("after %q: token %d (%q): mask %v, automaton %v", text[:i], id, b, mask.Has(id), ok)
				}
			}
			if i == len(text) {
				break
			}
			var ok bool
			if s, ok = a.Step(s, text[i]); !ok {
				t.Fatalf("%q rejected at %d", text, i)
			}
		}
	}
}

// randomModel is an engine.Model whose logits are seeded noise over the
// LLaMA vocabulary: a model with random weights.
type randomModel struct {
	engine.Model
	rng    *rand.Rand
	vocab  int
	fed    int
	calls  int // forward passes
	logits []float32
}

func (r *randomModel) VocabSize() int     { return r.vocab }
func (r *randomModel) ContextLength() int { return 1 << 16 }
func (r *randomModel) Forward(_ context.Context, ids []int, start, last int) ([]float32, error) {
	if start != r.fed {
		return nil, errors.New("positions skipped or rewound")
	}
	r.fed += len(ids)
	r.calls++
	for i := range r.logits {
		r.logits[i] = float32(r.rng.NormFloat64() * 4)
	}
	return r.logits, nil
}

func TestRandomModelWritesValidCalls(t *testing.T) {
	tok := llama(t)
	s := testSet(t)
	vocab := TokenizerVocab(tok)
	small := NewMasker(NewAutomaton(s, testLimits), vocab)
	full := NewMasker(NewAutomaton(s, DefaultLimits), vocab)
	prompt := tok.EncodeWithBOS("USER: call something ASSISTANT:")
	seen := map[string]bool{}
	forced := 0
	for _, temp := range []float64{0, 0.7, 1.5} {
		for seed := range uint64(16) {
			m := small
			if seed%8 == 0 {
				m = full
			}
			model := &randomModel{rng: rand.New(rand.NewPCG(seed, 7)), vocab: tok.VocabSize() + 64}
			model.logits = make([]float32, model.vocab)
			d, err := Generate(t.Context(), model, m, prompt, engine.Sampling{Temperature: temp, TopP: 0.95, Seed: seed}, 0)
			if err != nil {
				t.Fatalf("temperature %v seed %d: %v", temp, seed, err)
			}
			call, err := s.Parse(d.Text)
			if err != nil {
				t.Fatalf("temperature %v seed %d: %q: %v", temp, seed, d.Text, err)
			}
			if got := tok.Decode(d.IDs); strings.TrimSpace(got) != strings.TrimSpace(d.Text) {
				t.Fatalf("the text %q is not the tokens' %q", d.Text, got)
			}
			seen[call.Function] = true
			if want := 1 + len(d.IDs) - d.Forced - 1; model.calls != want {
				t.Fatalf("%d forward passes for %d tokens, %d of them forced: want %d", model.calls, len(d.IDs), d.Forced, want)
			}
			forced += d.Forced
		}
	}
	if forced == 0 {
		t.Error("no token was ever forced")
	}
	if len(seen) < 2 {
		t.Errorf("random models only ever called %v", seen)
	}
}

func TestGenerateLimits(t *testing.T) {
	tok := llama(t)
	m := NewMasker(NewAutomaton(testSet(t), DefaultLimits), TokenizerVocab(tok))
	model := &randomModel{rng: rand.New(rand.NewPCG(1, 2)), vocab: tok.VocabSize()}
	model.logits = make([]float32, model.vocab)
	prompt := tok.EncodeWithBOS("call")
	if _, err := Generate(t.Context(), model, m, prompt, engine.Sampling{}, 2); !errors.Is(err, ErrIncomplete) {
		t.Errorf("two tokens: %v, want ErrIncomplete", err)
	}
	if _, err := Generate(t.Context(), model, m, nil, engine.Sampling{}, 0); err == nil {
		t.Error("empty prompt accepted")
	}
	if _, err := Generate(t.Context(), model, m, []int{tok.VocabSize()}, engine.Sampling{}, 0); err == nil {
		t.Error("an id outside the vocabulary accepted")
	}
}

func BenchmarkMask(b *testing.B) {
	tok := llama(b)
	vocab := TokenizerVocab(tok)
	a := NewAutomaton(testSet(b), DefaultLimits)
	s, ok := a.Feed(a.Start(), []byte(`{"function": "weather", "params": {"city": "Par`))
	if !ok {
		b.Fatal("rejected")
	}
	m := NewMasker(a, vocab)
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			m.cache = map[State]Mask{}
			m.Mask(s)
		}
	})
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			m.Mask(s)
		}
	})
}

// TestMaskerConcurrent walks calls on one Masker from several goroutines (run
// it with -race); each must see the masks a Masker of its own computes.
func TestMaskerConcurrent(t *testing.T) {
	tok := llama(t)
	vocab := TokenizerVocab(tok)
	a := NewAutomaton(testSet(t), testLimits)
	shared := NewMasker(a, vocab)
	var wg sync.WaitGroup
	errs := make(chan string, len(validCalls))
	for _, c := range validCalls {
		wg.Go(func() {
			own := NewMasker(a, vocab)
			s := a.Start()
			for _, id := range tok.Encode(c) {
				if got, want := shared.Mask(s), own.Mask(s); got.Count() != want.Count() || !got.Has(id) {
					errs <- c
					return
				}
				s, _ = own.Advance(s, id)
			}
		})
	}
	wg.Wait()
	close(errs)
	for c := range errs {
		t.Errorf("%q: the shared masker disagrees", c)
	}
}

func TestForced(t *testing.T) {
	tok := llama(t)
	a := NewAutomaton(testSet(t), testLimits)
	m := NewMasker(a, TokenizerVocab(tok))
	tests := []struct{ after, forced string }{
		{`{"f`, `unction"`},
		{`{"function": "weather_a`, `lerts"`},
		{`{"function": "weather_alerts", "p`, `arams"`},
		{`{"function": "weather", "params": {"city": "x", "metric": t`, `rue`},
		{`{"function": "now", "params": {}`, ``},          // white space or the closing brace
		{`{"function": "convert", "params": {"f`, `rom"`}, // amount and to start otherwise
		{`{`, ``},
	}
	for _, tt := range tests {
		s, ok := a.Feed(a.Start(), []byte(tt.after))
		if !ok {
			t.Fatalf("%q rejected", tt.after)
		}
		ids := m.Forced(s)
		var got []byte
		for _, id := range ids {
			got = append(got, m.vocab[id]...)
		}
		if string(got) != tt.forced {
			t.Errorf("after %q: forced %q (%d tokens), want %q", tt.after, got, len(ids), tt.forced)
		}
		if len(ids) > 1 && len(ids) >= len(tt.forced) {
			t.Errorf("after %q: %d tokens for %q: not the longest", tt.after, len(ids), tt.forced)
		}
	}
}

// BenchmarkGenerate decodes calls with the random model over the LLaMA
// vocabulary and reports the constraint's cost per token (masks computed and
// applied, forced tokens found), cold cache and warm.
func BenchmarkGenerate(b *testing.B) {
	tok := llama(b)
	s := testSet(b)
	vocab := TokenizerVocab(tok)
	prompt := tok.EncodeWithBOS("USER: call something ASSISTANT:")
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			m := NewMasker(NewAutomaton(s, DefaultLimits), vocab)
			var tokens int
			var mask time.Duration
			seed := uint64(0)
			for b.Loop() {
				if !warm {
					m = NewMasker(m.Automaton(), vocab)
				}
				model := &randomModel{rng: rand.New(rand.NewPCG(seed%4, 7)), vocab: tok.VocabSize()}
				model.logits = make([]float32, model.vocab)
				d, err := Generate(b.Context(), model, m, prompt, engine.Sampling{Temperature: 0.7, Seed: seed % 4}, 0)
				if err != nil {
					b.Fatal(err)
				}
				tokens += len(d.IDs)
				mask += d.MaskTime
				seed++
			}
			b.ReportMetric(float64(mask.Microseconds())/float64(tokens), "mask-µs/token")
		})
	}
}
