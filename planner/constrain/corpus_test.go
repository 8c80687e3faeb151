package constrain

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
	"github.com/rewoo-agent/agent/planparser"
)

// corpusTools are the tools planparser's corpus calls (its golden test's list).
var corpusTools = []string{"DuckDuckGo", "KnowledgeModel", "TextScraper", "HyperlinkExtractor", "Wikipedia", "LLM"}

var (
	llamaOnce sync.Once
	llamaTok  *tokenizer.Tokenizer
	llamaErr  error
)

func llama(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	llamaOnce.Do(func() { llamaTok, llamaErr = tokenizer.Load(fixtures.Tokenizer("tokenizer.model")) })
	if llamaErr != nil {
		t.Fatal(llamaErr)
	}
	return llamaTok
}

type plan struct{ name, src string }

func corpus(t testing.TB) []plan {
	t.Helper()
	files, err := filepath.Glob("../../planparser/testdata/*.plan")
	if err != nil || len(files) == 0 {
		t.Fatalf("no plan corpus: %v", err)
	}
	var out []plan
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, plan{strings.TrimSuffix(filepath.Base(f), ".plan"), string(b)})
	}
	return out
}

// valid reports whether planparser parses src without diagnostics.
func valid(src string) error {
	_, err := planparser.Parse(src, planparser.Options{Tools: corpusTools})
	return err
}

func mustGrammar(t testing.TB, opts Options) *Grammar {
	t.Helper()
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestCorpusBytes feeds every corpus plan byte by byte: the grammar admits it
// whole and complete exactly when planparser finds no diagnostics.
func TestCorpusBytes(t *testing.T) {
	g := mustGrammar(t, Options{Tools: corpusTools})
	for _, p := range corpus(t) {
		t.Run(p.name, func(t *testing.T) {
			want := valid(p.src) == nil
			if strings.HasPrefix(p.name, "bad_") == want {
				t.Fatalf("corpus plan %s: parser validity %v contradicts its name", p.name, want)
			}
			s, err := g.Advance(g.Start(), p.src)
			got := err == nil && g.Accepting(s)
			if got != want {
				t.Errorf("admitted = %v (err %v, accepting %v), planparser valid = %v", got, err, err == nil && g.Accepting(s), want)
			}
		})
	}
}

var (
	indexOnce sync.Once
	indexLL   *Index
	indexErr  error
)

// llamaIndex is the corpus grammar over the LLaMA vocabulary, built once.
func llamaIndex(t testing.TB) *Index {
	t.Helper()
	tok := llama(t)
	indexOnce.Do(func() {
		g, err := New(Options{Tools: corpusTools})
		if err != nil {
			indexErr = err
			return
		}
		indexLL, indexErr = NewIndex(g, tok)
	})
	if indexErr != nil {
		t.Fatal(indexErr)
	}
	return indexLL
}

// TestCorpusTokens tokenizes every corpus plan with the LLaMA tokenizer and feeds
// it token by token: for a valid plan every token is in the mask and the end is
// complete; for an invalid one some token is outside the mask or the end is not.
func TestCorpusTokens(t *testing.T) {
	ix := llamaIndex(t)
	tok := llama(t)
	for _, p := range corpus(t) {
		t.Run(p.name, func(t *testing.T) {
			want := valid(p.src) == nil
			d, err := ix.NewDecoder(0)
			if err != nil {
				t.Fatal(err)
			}
			ids := tok.Encode(p.src)
			admitted := true
			for i, id := range ids {
				inMask := d.Mask().Has(id)
				err := d.Advance(id)
				if inMask != (err == nil) {
					t.Fatalf("token %d (%q): in mask %v but Advance says %v", i, tok.Piece(id), inMask, err)
				}
				if err != nil {
					admitted = false
					if want {
						t.Errorf("token %d (%q) after %q refused: %v", i, tok.Piece(id), d.Text(), err)
					}
					break
				}
			}
			if admitted {
				if !d.Mask().Has(tok.EOS()) != !d.Done() {
					t.Errorf("EOS in mask = %v, Done = %v", d.Mask().Has(tok.EOS()), d.Done())
				}
				admitted = d.Done()
				if want && !admitted {
					t.Errorf("plan admitted token by token but not complete at the end")
				}
				if admitted {
					if err := valid(d.Text()); err != nil {
						t.Errorf("admitted text does not validate: %v\n%s", err, d.Text())
					}
				}
			}
			if !want && admitted {
				t.Errorf("invalid plan admitted whole:\n%s", p.src)
			}
		})
	}
}

func planparserParse(src string, tools []string) (*planparser.Plan, error) {
	return planparser.Parse(src, planparser.Options{Tools: tools})
}

// TestConcurrentDecoders shares one Index (and its cache) between decoders on
// several goroutines: each sees the same masks as a lone decoder (run with -race).
func TestConcurrentDecoders(t *testing.T) {
	ix := llamaIndex(t)
	tok := llama(t)
	var plans [][]int
	for _, p := range corpus(t) {
		if valid(p.src) == nil {
			plans = append(plans, tok.Encode(p.src))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(plans))
	for _, ids := range plans {
		wg.Go(func() {
			d, err := ix.NewDecoder(0)
			if err != nil {
				errs <- err
				return
			}
			for _, id := range ids {
				if !d.Mask().Has(id) {
					errs <- fmt.Errorf("token %d refused after %q", id, d.Text())
					return
				}
				if err := d.Advance(id); err != nil {
					errs <- err
					return
				}
			}
			if !d.Done() {
				errs <- fmt.Errorf("not complete: %q", d.Text())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// feed advances d through text's tokens.
func feed(t *testing.T, d *Decoder, text string) {
	t.Helper()
	for _, id := range llama(t).Encode(text) {
		if err := d.Advance(id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForced: where the grammar leaves one way on, Forced spells it in tokens
// that are each in the mask; under a short budget it spells the completion.
func TestForced(t *testing.T) {
	ix := llamaIndex(t)
	for _, c := range []struct {
		prefix string
		budget int
		want   string
	}{
		{"#E1 = Know", 0, "ledgeModel"},
		{"#E1 = Hyper", 0, "linkExtractor"},
		{"Plan: x\n#E1 = Wiki", 0, "pedia"},
		{"#E1 = LLM[a]\nAnswer: #E1", 0, ""},
		{"#E1 = LLM[see", 0, ""},
		{"#E1 = LLM[see", -1, "]\nAnswer: #E1"},
	} {
		budget := c.budget
		if budget < 0 { // just short enough for the completion to be forced
			budget = ix.Grammar().MaxFinish() + len(llama(t).Encode(c.prefix))
		}
		d, err := ix.NewDecoder(budget)
		if err != nil {
			t.Fatal(err)
		}
		feed(t, d, c.prefix)
		ids := d.Forced()
		var got []byte
		for _, id := range ids {
			if !d.Mask().Has(id) {
				t.Fatalf("%q: forced token %d outside the mask", c.prefix, id)
			}
			if id != ix.eos {
				got = append(got, ix.Bytes(id)...)
			}
			if err := d.Advance(id); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != c.want {
			t.Errorf("%q (budget %d): forced %q, want %q", c.prefix, c.budget, got, c.want)
		}
	}
}

// TestFilter: Filter leaves exactly the mask's tokens finite.
func TestFilter(t *testing.T) {
	ix := llamaIndex(t)
	d, err := ix.NewDecoder(0)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, d, "#E1 = LLM[a]\n#E2 = LLM[#E")
	logits := make([]float32, ix.VocabSize())
	if err := d.Filter(logits); err != nil {
		t.Fatal(err)
	}
	m := d.Mask()
	for id, l := range logits {
		if finite := l == 0; finite != m.Has(id) {
			t.Fatalf("token %d (%q): logit %v, in mask %v", id, ix.Bytes(id), l, m.Has(id))
		}
	}
	if m.Has(llama(t).Encode("2")[len(llama(t).Encode("2"))-1]) {
		t.Error("#E2 referenced inside its own step")
	}
	if err := d.Filter(logits[1:]); err == nil {
		t.Error("short logits accepted")
	}
}

// TestCacheKeys decodes the corpus with the mask cache and without it: the
// canonical keys never hand a state another state's mask.
func TestCacheKeys(t *testing.T) {
	g := mustGrammar(t, Options{Tools: corpusTools})
	ix, err := NewIndex(g, llama(t))
	if err != nil {
		t.Fatal(err)
	}
	if !ix.loose {
		t.Error("the LLaMA vocabulary is not loose")
	}
	tok := llama(t)
	n := 0
	for _, p := range corpus(t) {
		if valid(p.src) != nil {
			continue
		}
		d, err := ix.NewDecoder(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range tok.Encode(p.src) {
			cached := ix.lookup(d.State())
			if fresh := ix.walk(d.State()); !slices.Equal(cached.mask, fresh.mask) || !slices.Equal(cached.forced, fresh.forced) {
				t.Fatalf("%s: cached mask or forced bytes differ from a fresh walk after %q", p.name, d.Text())
			}
			if err := d.Advance(id); err != nil {
				t.Fatal(err)
			}
		}
		if n++; testing.Short() && n == 3 {
			break
		}
	}
}
