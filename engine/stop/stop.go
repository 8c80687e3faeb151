// Package stop ends streamed text at stop strings. Text arrives in pieces; what might
// still grow into a stop string is held back, so a stop string is never emitted, not
// even in part, and generation can end before the first occurrence of any of them.
// The local generator and the remote client share it, so both honour stop strings
// the same way whatever the server does.
package stop

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Matcher watches one generation's text. It is not safe for concurrent use.
type Matcher struct {
	stops   []string
	longest int
	text    strings.Builder
	emitted int // bytes of text handed out
	found   bool
}

// New returns a matcher for stops. Each stop string must be non-empty valid UTF-8.
func New(stops []string) (*Matcher, error) {
	m := &Matcher{}
	for _, s := range stops {
		switch {
		case s == "":
			return nil, errors.New("empty stop string")
		case !utf8.ValidString(s):
			return nil, fmt.Errorf("stop string %q is not valid UTF-8", s)
		}
		m.stops = append(m.stops, s)
		m.longest = max(m.longest, len(s))
	}
	return m, nil
}

// Add appends a piece of generated text and returns what may be emitted now. stopped
// reports that a stop string appeared: out then ends just before it, and the
// generation is over (later calls return nothing).
func (m *Matcher) Add(piece string) (out string, stopped bool) {
	if m.found {
		return "", true
	}
	old := m.text.Len()
	m.text.WriteString(piece)
	text := m.text.String()
	// Earlier scans found nothing, so a new occurrence ends after old.
	from := max(0, old-m.longest+1)
	cut := -1
	for _, s := range m.stops {
		if i := strings.Index(text[from:], s); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	if cut >= 0 {
		m.found = true
		out = text[m.emitted:cut]
		m.emitted = cut
		return out, true
	}
	safe := len(text) - m.heldBack(text)
	out = text[m.emitted:safe]
	m.emitted = safe
	return out, false
}

// heldBack is the length of the longest tail of text after what was emitted that
// begins some stop string. The tail starts on a character boundary because stop
// strings are valid UTF-8.
func (m *Matcher) heldBack(text string) int {
	for k := min(m.longest-1, len(text)-m.emitted); k > 0; k-- {
		tail := text[len(text)-k:]
		for _, s := range m.stops {
			if strings.HasPrefix(s, tail) {
				return k
			}
		}
	}
	return 0
}

// Flush ends the generation without a stop string and returns the text held back.
func (m *Matcher) Flush() string {
	if m.found {
		return ""
	}
	text := m.text.String()
	out := text[m.emitted:]
	m.emitted = len(text)
	return out
}

// Text returns everything emitted so far: at the end, the generation's text.
func (m *Matcher) Text() string {
	return m.text.String()[:m.emitted]
}
