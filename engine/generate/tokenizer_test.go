package generate

import (
	"github.com/rewoo-agent/agent/internal/fixtures"

	"context"
	"testing"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// TestWithLLaMATokenizer drives the generator with the real LLaMA tokenizer: BOS as
// transformers adds it, and text streamed whole-character by whole-character,
// including an emoji spelled with byte-fallback tokens.
func TestWithLLaMATokenizer(t *testing.T) {
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := "USER: Capital of France? ASSISTANT:"
	answer := "Paris 🙂 is nice."
	promptIDs := tok.EncodeWithBOS(prompt)
	m := &fakeModel{promptLen: len(promptIDs), script: append(tok.Encode(answer), tok.EOS()), ctxLen: 2048, vocab: tok.VocabSize()}
	g := New(m, tok)
	var pieces []string
	res, err := g.Generate(context.Background(), engine.Request{Prompt: prompt}, func(s string) error {
		pieces = append(pieces, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The continuation keeps the space SentencePiece's dummy prefix put before "Paris".
	if want := " " + answer; res.Text != want || res.Stop != engine.StopEOS {
		t.Errorf("text %q stop %s, want %q eos", res.Text, res.Stop, want)
	}
	for _, p := range pieces {
		if !utf8.ValidString(p) {
			t.Errorf("piece %q is not whole characters", p)
		}
	}
	if got := m.calls[0].ids; len(got) != len(promptIDs) || got[0] != tok.BOS() {
		t.Errorf("prompt fed as %v, want %v", got, promptIDs)
	}
	if n, _ := g.CountTokens(prompt); n != len(promptIDs) {
		t.Errorf("CountTokens = %d, want %d", n, len(promptIDs))
	}
}
