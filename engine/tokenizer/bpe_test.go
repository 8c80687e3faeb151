package tokenizer

import (
	"slices"
	"testing"
)

// TestWordsApart: encoding word by word gives what merging over the whole text
// gives (the LLaMA vocabulary has no piece with "▁" after another character).
func TestWordsApart(t *testing.T) {
	tok := loadLLaMA(t)
	if !tok.wordsApart {
		t.Fatal("LLaMA's vocabulary should allow encoding word by word")
	}
	whole := *tok
	whole.wordsApart = false
	for _, text := range []string{benchText(20 << 10), "  a  b   c ▁▁x▁ y\n z", "東京 🚀 naïve"} {
		if a, b := tok.Encode(text), whole.Encode(text); !slices.Equal(a, b) {
			t.Errorf("word by word %v, whole %v", a[:min(len(a), 20)], b[:min(len(b), 20)])
		}
	}
}
