package funcall

import (
	"regexp"
	"strconv"

	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// bytePiece is how SentencePiece names a byte-fallback piece.
var bytePiece = regexp.MustCompile(`^<0x([0-9A-Fa-f]{2})>$`)

// TokenizerVocab is the Vocab of t: a byte piece (<0x0A>) is its byte, any
// other piece the text it decodes to after other text ("▁" a space); control
// pieces (BOS, EOS), which write nothing, and the unknown piece are nil.
func TokenizerVocab(t *tokenizer.Tokenizer) Vocab {
	v := make(Vocab, t.VocabSize())
	for id := range v {
		piece := t.Piece(id)
		if m := bytePiece.FindStringSubmatch(piece); m != nil {
			b, _ := strconv.ParseUint(m[1], 16, 8)
			v[id] = []byte{byte(b)}
			continue
		}
		if piece == "<unk>" || id == t.BOS() || id == t.EOS() {
			continue
		}
		if text := t.NewStream().Next(id); text != "" {
			v[id] = []byte(text)
		}
	}
	return v
}
