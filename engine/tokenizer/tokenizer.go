package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// kind is what a piece is, with sentencepiece's meanings.
type kind uint8

const (
	kindNormal      kind = iota // a piece of text
	kindUnknown                 // <unk>: decodes as the unknown surface
	kindControl                 // <s>, </s>: decodes as nothing
	kindUserDefined             // always one token where its text appears
	kindUnused                  // in the vocabulary, but resegmented when encoding
	kindByte                    // <0xXX>: one byte of UTF-8
)

const (
	spaceSymbol       = "▁" // U+2581, sentencepiece's visible space
	defaultUnkSurface = " \u2047 "
)

type piece struct {
	text  string
	score float32
	kind  kind
	byte  byte // the byte of a kindByte piece
}

// Tokenizer encodes text to token ids and back. It is safe for concurrent use.
type Tokenizer struct {
	pieces []piece
	// mergeable maps the text of every normal, user-defined and unused piece to
	// its id: what BPE may form (sentencepiece's pieces_).
	mergeable map[string]int32
	// merges, for a tokenizer.json, ranks the pairs BPE may merge; nil for a
	// tokenizer.model, which merges by piece score.
	merges map[[2]int32]merge
	// userDefined holds user-defined pieces, never split; maxUser is the longest.
	userDefined map[string]int32
	maxUser     int
	byteID      [256]int32 // -1 where the byte has no piece
	asciiID     [128]int32 // the piece of each ASCII character, -1 if none
	// wordsApart: no piece has a "▁" right after another character, so BPE may
	// run on each "▁"-led word on its own.
	wordsApart bool

	unk, bos, eos int
	unkSurface    string
	byteFallback  bool
	fuseUnknown   bool

	norm normalizer
}

// merge is a tokenizer.json merge: its rank and the id it forms.
type merge struct {
	rank, id int32
}

// normalizer says how text becomes the string BPE works on.
type normalizer struct {
	dummyPrefix bool // prepend "▁" to non-empty text
	// keepExistingPrefix skips the dummy "▁" when the text already starts with
	// one (the Hugging Face Metaspace pre-tokenizer does this; sentencepiece not).
	keepExistingPrefix bool
	escapeSpaces       bool // ' ' -> "▁"
	removeExtraSpaces  bool // drop leading and trailing spaces, collapse runs
	splitWords         bool // BPE each "▁"-led word on its own (Metaspace split)
	// stripDecoded drops the leading space of a decoded sequence.
	stripDecoded bool
}

// ErrFormat is wrapped by every error about a malformed or unsupported tokenizer file.
var ErrFormat = errors.New("invalid tokenizer file")

// Load reads a SentencePiece tokenizer.model or, for a name ending in ".json", a
// Hugging Face tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var t *Tokenizer
	if strings.HasSuffix(path, ".json") {
		t, err = parseJSON(data)
	} else {
		t, err = parseModel(data)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return t, nil
}

// LoadDir loads the tokenizer of a model folder: tokenizer.model if there is one,
// else tokenizer.json.
func LoadDir(dir string) (*Tokenizer, error) {
	for _, name := range []string{"tokenizer.model", "tokenizer.json"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return Load(p)
		}
	}
	return nil, fmt.Errorf("tokenizer: %s has neither tokenizer.model nor tokenizer.json", dir)
}

// VocabSize is the number of ids: every id in [0, VocabSize) is valid.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// BOS is the beginning-of-sequence id, or -1 if the vocabulary has none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the end-of-sequence id, or -1 if the vocabulary has none.
func (t *Tokenizer) EOS() int { return t.eos }

// Piece is the vocabulary entry of id ("▁Hello", "<0x0A>", "<s>"), or "" for an
// id out of range.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id].text
}

// EncodeWithBOS encodes text as Hugging Face transformers does for LLaMA by
// default: BOS first (when the vocabulary has one), never EOS.
func (t *Tokenizer) EncodeWithBOS(text string) []int {
	ids := t.Encode(text)
	if t.bos < 0 {
		return ids
	}
	return append([]int{t.bos}, ids...)
}

// finish fills what both file formats derive the same way and checks the result.
func (t *Tokenizer) finish() error {
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for c := range t.asciiID {
		t.asciiID[c] = -1
	}
	t.mergeable = make(map[string]int32, len(t.pieces))
	for i, p := range t.pieces {
		switch p.kind {
		case kindByte:
			t.byteID[p.byte] = int32(i)
		case kindNormal, kindUserDefined, kindUnused:
			if _, dup := t.mergeable[p.text]; dup {
				return fmt.Errorf("%w: piece %q is defined twice", ErrFormat, p.text)
			}
			t.mergeable[p.text] = int32(i)
			if len(p.text) == 1 && p.text[0] < utf8.RuneSelf {
				t.asciiID[p.text[0]] = int32(i)
			}
		}
		if p.kind == kindUserDefined {
			if t.userDefined == nil {
				t.userDefined = map[string]int32{}
			}
			t.userDefined[p.text] = int32(i)
			t.maxUser = max(t.maxUser, len(p.text))
		}
	}
	t.wordsApart = true
	for text := range t.mergeable {
		if strings.Contains(strings.TrimLeft(text, spaceSymbol), spaceSymbol) {
			t.wordsApart = false
			break
		}
	}
	if t.byteFallback {
		for b, id := range t.byteID {
			if id < 0 {
				return fmt.Errorf("%w: byte fallback is on but there is no piece <0x%02X>", ErrFormat, b)
			}
		}
	}
	return nil
}

// parseBytePiece reads "<0xXX>" (two upper-case hex digits, as sentencepiece writes).
func parseBytePiece(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range []byte(s[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			b = b<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			b = b<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}
