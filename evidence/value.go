package evidence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/planparser"
)

// Status says how a step ended.
type Status int

const (
	OK      Status = iota // the tool answered
	Failed                // the tool failed, timed out or was cancelled; Err says why
	Skipped               // the step never ran; Reason says why
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Value is the evidence one step produced, with its provenance.
type Value struct {
	Name     string   // as written in the plan, e.g. ":evidence0:"
	Tool     string   // the tool called
	Raw      string   // the input as written, references intact
	Input    string   // the input the tool received, references substituted
	Deps     []string // the evidence the input referenced
	Text     string   // the tool's answer, trimmed to Options.MaxBytes
	Sources  []string // where the text came from (URLs)
	Bytes    int      // size of the tool's answer before trimming
	Status   Status
	Err      error         // why the step failed
	Reason   string        // why the step was skipped
	Start    time.Duration // when the step started (or was skipped), since the run began
	Duration time.Duration // how long it ran, retries included
	Attempts int           // tool calls made
}

// Ok reports whether the step produced evidence.
func (v *Value) Ok() bool { return v.Status == OK }

// Trimmed reports whether Text is shorter than the tool's answer.
func (v *Value) Trimmed() bool { return v.Status == OK && len(v.Text) < v.Bytes }

// Content is what a reference to the value reads as: the text, or a note saying
// why there is none, so a dependant that runs anyway sees the failure.
func (v *Value) Content() string {
	switch v.Status {
	case Failed:
		return fmt.Sprintf("(no evidence: %s failed: %v)", v.Name, v.Err)
	case Skipped:
		return fmt.Sprintf("(no evidence: %s was skipped: %s)", v.Name, v.Reason)
	}
	return v.Text
}

// ErrTooLarge is wrapped by the error of a substitution whose text would pass
// its bound (Options.MaxInputBytes, Options.MaxExpansion): a plan that cites the
// same large evidence thousands of times, or doubles it step after step, fails
// with it instead of filling memory.
var ErrTooLarge = errors.New("substituted text too large")

// Substitute replaces every whole evidence reference in s (":evidenceN:" or "#EN";
// ":evidence1:" never inside ":evidence10:") with the Content of the value get
// returns for it. References get does not know stay as written. bad lists, in
// order of first mention, the references that found no evidence: unknown, failed
// or skipped. When limit >= 0 and the text would be longer than limit bytes, the
// error wraps ErrTooLarge and says so; the text is then never built. (A text
// without references comes back as it is: the limit bounds what substitution
// makes.)
func Substitute(s string, get func(name string) *Value, limit int) (text string, bad []string, err error) {
	spans := planparser.FindRefs(s)
	if len(spans) == 0 {
		return s, nil, nil
	}
	content := make([]string, len(spans))
	size := len(s)
	known := map[string]string{} // each name's content, made once
	for i, sp := range spans {
		name := s[sp[0]:sp[1]]
		c, seen := known[name]
		if !seen {
			v := get(name)
			if c = name; v != nil {
				c = v.Content()
			}
			known[name] = c
			if v == nil || !v.Ok() {
				bad = append(bad, name)
			}
		}
		content[i] = c
		size += len(c) - len(name)
	}
	if limit >= 0 && size > limit {
		return "", bad, fmt.Errorf("%w: %d references would make %d bytes (the limit is %d)", ErrTooLarge, len(spans), size, limit)
	}
	var b strings.Builder
	b.Grow(size)
	last := 0
	for i, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(content[i])
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String(), bad, nil
}

// Trim shortens s to at most budget bytes, cutting at a character boundary (at a
// space near the end when there is one) and saying how much it cut. Text within
// budget is returned unchanged.
func Trim(s string, budget int) string {
	budget = max(budget, 0)
	if len(s) <= budget {
		return s
	}
	// The marker for the whole length is at least as long as the real one.
	room := budget - len(trimMarker(len(s)))
	if room <= 0 {
		return s[:runeStart(s, budget)]
	}
	cut := runeStart(s, room)
	if sp := strings.LastIndexAny(s[:cut], " \t\n"); sp > cut*3/4 {
		cut = sp
	}
	return s[:cut] + trimMarker(len(s)-cut)
}

func trimMarker(n int) string { return fmt.Sprintf(" […%d bytes trimmed]", n) }

// runeStart backs i off to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// Bounds of PathLine.
const (
	// MaxPathNames is how many step names PathLine shows: the first and last
	// halves, with a count of the ones between.
	MaxPathNames = 8
	// MaxNameBytes bounds each name PathLine shows.
	MaxNameBytes = 32
)

// PathLine writes a chain of steps, such as Result.CriticalPath, as one line
// "a -> b -> c" of bounded length: a plan of thousands of steps, or one whose
// names are long, still gets a line a terminal can show.
func PathLine(path []string) string {
	shown := path
	rest := 0
	if len(path) > MaxPathNames {
		half := MaxPathNames / 2
		shown = slices.Concat(path[:half], []string{""}, path[len(path)-half:])
		rest = len(path) - 2*half
	}
	parts := make([]string, len(shown))
	for i, name := range shown {
		switch {
		case name == "" && rest > 0:
			parts[i] = fmt.Sprintf("(%d more)", rest)
		case len(name) > MaxNameBytes:
			parts[i] = name[:runeStart(name, MaxNameBytes-len("…"))] + "…"
		default:
			parts[i] = name
		}
	}
	return strings.Join(parts, " -> ")
}
