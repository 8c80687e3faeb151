// Package termtext measures and cuts text as a terminal shows it: in columns, wide
// East Asian characters taking two, so a line cut to the terminal's width never
// wraps.
package termtext

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// RuneWidth is the columns r takes: two for East Asian wide and full-width
// characters, one otherwise.
func RuneWidth(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// Width is the columns s takes.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += RuneWidth(r)
	}
	return n
}

// Clip cuts s to at most n columns, ending in "…" when cut. Escape sequences
// in s would count as characters, so apply it before painting.
func Clip(s string, n int) string {
	if n < 1 {
		return ""
	}
	if Width(s) <= n {
		return s
	}
	cols := 0
	for i, r := range s {
		if cols+RuneWidth(r) > n-1 {
			return s[:i] + "…"
		}
		cols += RuneWidth(r)
	}
	return s
}

// Flat is s on one line: its runs of white space, line ends included, as one
// space.
func Flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// ClipLine is s flattened to one line and clipped to n columns.
func ClipLine(s string, n int) string { return Clip(Flat(s), n) }

// Printable is s with tabs as spaces and other control characters dropped, so
// its width on a terminal is what Width counts.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}
