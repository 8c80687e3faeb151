package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// hfFile is the part of a Hugging Face tokenizer.json a LLaMA tokenizer uses.
type hfFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   *hfNormalizer `json:"normalizer"`
	PreTokenizer *hfNormalizer `json:"pre_tokenizer"`
	Model        struct {
		Type                    string         `json:"type"`
		Vocab                   map[string]int `json:"vocab"`
		Merges                  []hfMerge      `json:"merges"`
		ByteFallback            bool           `json:"byte_fallback"`
		FuseUnk                 bool           `json:"fuse_unk"`
		UnkToken                *string        `json:"unk_token"`
		Dropout                 *float64       `json:"dropout"`
		ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
		IgnoreMerges            bool           `json:"ignore_merges"`
	} `json:"model"`
}

// hfNormalizer is a normalizer or pre-tokenizer: the kinds LLaMA files use.
type hfNormalizer struct {
	Type        string         `json:"type"`
	Normalizers []hfNormalizer `json:"normalizers"`   // Sequence
	PreTokens   []hfNormalizer `json:"pretokenizers"` // Sequence of pre-tokenizers
	Prepend     string         `json:"prepend"`       // Prepend
	Pattern     struct {       // Replace
		String *string `json:"String"`
	} `json:"pattern"`
	Content        string `json:"content"`          // Replace
	Replacement    string `json:"replacement"`      // Metaspace
	PrependScheme  string `json:"prepend_scheme"`   // Metaspace: always, first, never
	AddPrefixSpace *bool  `json:"add_prefix_space"` // Metaspace, before prepend_scheme
	Split          *bool  `json:"split"`            // Metaspace
}

// hfMerge is a merge written "a b" (older files) or ["a", "b"].
type hfMerge [2]string

func (m *hfMerge) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		a, c, ok := strings.Cut(s, " ")
		if !ok || strings.Contains(c, " ") {
			return fmt.Errorf("merge %q is not two tokens", s)
		}
		*m = hfMerge{a, c}
		return nil
	}
	var pair []string
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("merge %s is neither \"a b\" nor [\"a\", \"b\"]", b)
	}
	*m = hfMerge{pair[0], pair[1]}
	return nil
}

// parseJSON reads a Hugging Face tokenizer.json holding a SentencePiece-style BPE
// model (LLaMA's): byte fallback, "▁" for spaces, a Prepend+Replace normalizer or
// a Metaspace pre-tokenizer. Decoding follows sentencepiece, whatever the file's
// decoder says.
func parseJSON(data []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	m := &f.Model
	switch {
	case m.Type != "BPE" && !(m.Type == "" && m.Merges != nil):
		return nil, fmt.Errorf("%w: model type %q is not BPE", ErrFormat, m.Type)
	case len(m.Vocab) == 0:
		return nil, fmt.Errorf("%w: empty vocabulary", ErrFormat)
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, fmt.Errorf("%w: BPE dropout is not supported", ErrFormat)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "",
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, fmt.Errorf("%w: subword prefixes and suffixes are not supported (not a SentencePiece-style BPE)", ErrFormat)
	case m.IgnoreMerges:
		return nil, fmt.Errorf("%w: ignore_merges is not supported", ErrFormat)
	}

	t := &Tokenizer{unk: -1, bos: -1, eos: -1, unkSurface: defaultUnkSurface,
		byteFallback: m.ByteFallback, fuseUnknown: m.FuseUnk}
	size := 0
	for _, id := range m.Vocab {
		size = max(size, id+1)
	}
	for _, a := range f.AddedTokens {
		size = max(size, a.ID+1)
	}
	if size > len(m.Vocab)+len(f.AddedTokens) {
		return nil, fmt.Errorf("%w: ids run to %d but there are only %d tokens", ErrFormat, size-1, len(m.Vocab)+len(f.AddedTokens))
	}
	t.pieces = make([]piece, size)
	set := func(id int, p piece) error {
		if id < 0 {
			return fmt.Errorf("%w: token %q has negative id %d", ErrFormat, p.text, id)
		}
		if old := t.pieces[id].text; old != "" && old != p.text {
			return fmt.Errorf("%w: id %d is both %q and %q", ErrFormat, id, old, p.text)
		}
		if p.text == "" {
			return fmt.Errorf("%w: id %d is an empty token", ErrFormat, id)
		}
		t.pieces[id] = p
		return nil
	}
	for text, id := range m.Vocab {
		p := piece{text: text, kind: kindNormal}
		if b, ok := parseBytePiece(text); ok && m.ByteFallback {
			p.kind, p.byte = kindByte, b
		}
		if err := set(id, p); err != nil {
			return nil, err
		}
	}
	for _, a := range f.AddedTokens {
		p := piece{text: a.Content, kind: kindNormal}
		if a.Special {
			p.kind = kindControl // never matched in text; decodes as nothing
		}
		if err := set(a.ID, p); err != nil {
			return nil, err
		}
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("%w: unknown token %q is not in the vocabulary", ErrFormat, *m.UnkToken)
		}
		t.unk = id
		t.pieces[id].kind = kindUnknown
	}
	for i, p := range t.pieces {
		if p.text == "" {
			return nil, fmt.Errorf("%w: id %d has no token", ErrFormat, i)
		}
	}
	for _, a := range f.AddedTokens {
		switch {
		case a.Special && a.Content == "<s>":
			t.bos = a.ID
		case a.Special && a.Content == "</s>":
			t.eos = a.ID
		}
	}

	t.merges = make(map[[2]int32]merge, len(m.Merges))
	for rank, mg := range m.Merges {
		a, okA := m.Vocab[mg[0]]
		b, okB := m.Vocab[mg[1]]
		id, okC := m.Vocab[mg[0]+mg[1]]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("%w: merge %d (%q %q) uses a token not in the vocabulary", ErrFormat, rank, mg[0], mg[1])
		}
		key := [2]int32{int32(a), int32(b)}
		if _, dup := t.merges[key]; !dup { // the first, best-ranked, wins
			t.merges[key] = merge{rank: int32(rank), id: int32(id)}
		}
	}

	if err := t.jsonNormalizer(f.Normalizer, f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// jsonNormalizer maps the file's normalizer and pre-tokenizer onto normalizer.
func (t *Tokenizer) jsonNormalizer(norm, pre *hfNormalizer) error {
	var steps []hfNormalizer
	flatten := func(n *hfNormalizer) {
		if n == nil {
			return
		}
		if n.Type == "Sequence" {
			steps = append(steps, n.Normalizers...)
			steps = append(steps, n.PreTokens...)
			return
		}
		steps = append(steps, *n)
	}
	flatten(norm)
	normSteps := len(steps)
	flatten(pre)
	for i, s := range steps {
		switch {
		case s.Type == "Prepend" && s.Prepend == spaceSymbol && i < normSteps:
			t.norm.dummyPrefix = true
		case s.Type == "Replace" && s.Pattern.String != nil && *s.Pattern.String == " " && s.Content == spaceSymbol && i < normSteps:
			t.norm.escapeSpaces = true
		case s.Type == "Metaspace" && s.Replacement == spaceSymbol && i >= normSteps:
			t.norm.escapeSpaces = true
			switch s.PrependScheme {
			case "always", "first":
				t.norm.dummyPrefix, t.norm.keepExistingPrefix = true, true
			case "never":
			case "":
				if s.AddPrefixSpace == nil || *s.AddPrefixSpace {
					t.norm.dummyPrefix, t.norm.keepExistingPrefix = true, true
				}
			default:
				return fmt.Errorf("%w: Metaspace prepend_scheme %q", ErrFormat, s.PrependScheme)
			}
			t.norm.splitWords = s.Split == nil || *s.Split
		default:
			b, _ := json.Marshal(s)
			return fmt.Errorf("%w: unsupported normalizer or pre-tokenizer step %s (only LLaMA's Prepend(\"▁\"), Replace(\" \", \"▁\") and Metaspace are)", ErrFormat, b)
		}
	}
	if !t.norm.escapeSpaces {
		return fmt.Errorf("%w: spaces are never replaced by \"▁\" (not a SentencePiece-style tokenizer)", ErrFormat)
	}
	t.norm.stripDecoded = t.norm.dummyPrefix
	return nil
}
