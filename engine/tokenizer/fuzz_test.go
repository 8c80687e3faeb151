package tokenizer

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// FuzzParseModel: no input makes the tokenizer.model reader panic, and what it
// accepts encodes and decodes without panicking.
func FuzzParseModel(f *testing.F) {
	data, err := os.ReadFile(fixture(f, "tokenizer.model"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[:1000])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseModel(b)
		if err != nil {
			return
		}
		ids := tok.Encode("Hello wörld 東京 🚀")
		tok.Decode(append(ids, 0, 1, 2, 3, -1, tok.VocabSize()))
	})
}

// FuzzEncodeDecode: with the LLaMA model, Decode(Encode(s)) == s for every valid
// UTF-8 string without "▁" (sentencepiece guarantees it here: no normalization
// rules, byte fallback, no whitespace removal; "▁" itself comes back as a space),
// invalid UTF-8 comes back with U+FFFD for each bad byte, and the stream gives the
// same text with the dummy-prefix space.
func FuzzEncodeDecode(f *testing.F) {
	tok := loadLLaMA(f)
	enc, _ := spCases(f)
	for _, c := range enc {
		f.Add(c.Text)
	}
	f.Add("a\xffb\xe6\x9d")
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
		want := strings.ReplaceAll(replaceInvalid(s), spaceSymbol, " ")
		if got := tok.Decode(ids); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
		if s != "" {
			if got := streamText(t, tok, ids); got != " "+want {
				t.Fatalf("stream of Encode(%q) = %q", s, got)
			}
		}
	})
}

// replaceInvalid is s with U+FFFD for each byte that is not part of valid UTF-8.
func replaceInvalid(s string) string {
	var out []rune
	for _, r := range s {
		out = append(out, r)
	}
	return string(out)
}

// FuzzStream: for any ids, the stream never emits half a character and its text
// is Decode's, give or take the leading space.
func FuzzStream(f *testing.F) {
	tok := loadLLaMA(f)
	f.Add([]byte{3 + 0xE6, 3 + 0x9D, 3 + 0xB1, 0x80, 0x01})
	f.Add([]byte{1, 0, 2, 200, 100})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Two bytes per id: mostly byte tokens and short pieces, some anything.
		var ids []int
		for i := 0; i+1 < len(b); i += 2 {
			id := int(b[i])<<8 | int(b[i+1])
			if b[i]&0x80 == 0 {
				id = int(b[i+1]) + 3*int(b[i]&1) // bytes 0..255 and specials
			}
			ids = append(ids, id%tok.VocabSize())
		}
		whole := tok.Decode(ids)
		if got := streamText(t, tok, ids); got != whole && got != " "+whole {
			t.Fatalf("stream of %v = %q, Decode = %q", ids, got, whole)
		}
	})
}

// FuzzParseJSON: no input makes the tokenizer.json reader panic, and what it
// accepts encodes and decodes without panicking.
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},` +
		`"added_tokens":[{"id":3,"content":"<s>","special":true}],` +
		`"model":{"type":"BPE","byte_fallback":false,"unk_token":"u","vocab":{"u":0,"▁":1,"a":2,"▁a":4},"merges":["▁ a"]}}`)
	f.Add(`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},` +
		`"model":{"type":"BPE","fuse_unk":true,"unk_token":"u","vocab":{"u":0,"▁":1,"a":2,"▁a":3},"merges":[["▁","a"]]}}`)
	f.Add(`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b c"]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseJSON([]byte(s))
		if err != nil {
			return
		}
		ids := tok.Encode("a aa  \xff🚀▁")
		tok.Decode(append(ids, 0, 1, -1, tok.VocabSize()))
	})
}
