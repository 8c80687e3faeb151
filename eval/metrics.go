package eval

import (
	"strings"
	"unicode"
)

// Normalize is SQuAD's answer normalisation: lower case, punctuation removed, the
// articles a, an and the dropped, white space collapsed.
func Normalize(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return -1
		}
		return r
	}, s)
	words := strings.Fields(s)
	out := words[:0]
	for _, w := range words {
		if w != "a" && w != "an" && w != "the" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

// ExactMatch is 1 when prediction and gold normalise to the same text, else 0.
func ExactMatch(prediction, gold string) float64 {
	if Normalize(prediction) == Normalize(gold) {
		return 1
	}
	return 0
}

// F1 is SQuAD's token F1 of the normalised texts: the harmonic mean of the shares
// of shared tokens (counted with multiplicity) in each. Two empty texts score 1.
func F1(prediction, gold string) float64 {
	p, g := strings.Fields(Normalize(prediction)), strings.Fields(Normalize(gold))
	if len(p) == 0 || len(g) == 0 {
		if len(p) == len(g) {
			return 1
		}
		return 0
	}
	counts := map[string]int{}
	for _, w := range g {
		counts[w]++
	}
	common := 0
	for _, w := range p {
		if counts[w] > 0 {
			counts[w]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	precision, recall := float64(common)/float64(len(p)), float64(common)/float64(len(g))
	return 2 * precision * recall / (precision + recall)
}
