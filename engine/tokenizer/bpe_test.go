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

// TestJSONOptions: what the LLaMA files leave off: a Metaspace pre-tokenizer that
// splits words, an unknown token fused over runs, no byte fallback.
func TestJSONOptions(t *testing.T) {
	tok, err := parseJSON([]byte(`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},` +
		`"added_tokens":[{"id":4,"content":"<s>","special":true}],` +
		`"model":{"type":"BPE","fuse_unk":true,"unk_token":"u","vocab":{"u":0,"▁":1,"a":2,"▁a":3},"merges":[["▁","a"]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text    string
		ids     []int
		decoded string
	}{
		{"a aa", []int{3, 3, 2}, "a aa"},
		{" a", []int{3}, "a"}, // Metaspace adds no "▁" before one
		{"xy a", []int{1, 0, 3}, " ⁇  a"},
		{"", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := tok.Encode(tt.text); !slices.Equal(got, tt.ids) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.ids)
			}
			if got := tok.Decode(tt.ids); got != tt.decoded {
				t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.decoded)
			}
		})
	}
	if tok.BOS() != 4 || tok.EOS() != -1 || tok.VocabSize() != 5 {
		t.Errorf("BOS, EOS, VocabSize = %d, %d, %d", tok.BOS(), tok.EOS(), tok.VocabSize())
	}
}
