package planparser

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Diagnostic is one problem in a plan.
type Diagnostic struct {
	Pos Position
	Msg string
}

// Bounds of a diagnostic's line: a plan comes from a model, and one line of it
// may be megabytes long.
const (
	// MaxMessage bounds the message Error writes, in characters.
	MaxMessage = 240
	// maxQuoted bounds the plan text a message quotes, in characters.
	maxQuoted = 48
)

// Error formats the diagnostic as one line "line:col: message", the message cut
// to MaxMessage characters.
func (d Diagnostic) Error() string {
	return d.Pos.String() + ": " + strings.ReplaceAll(clip(d.Msg, MaxMessage), "\n", `\n`)
}

// quote quotes a piece of the plan for a message, cut to maxQuoted characters.
func quote(s string) string { return strconv.Quote(clip(s, maxQuoted)) }

// Diagnostics is every problem found in a plan, sorted by position. It is the error
// Parse and Stream.Close return.
type Diagnostics []Diagnostic

// MaxReported is how many diagnostics Error lists before it counts the rest: a
// model that loops can write a plan with thousands of the same mistake.
const MaxReported = 100

// Error formats one diagnostic per line, the first MaxReported of them, then how
// many more there are. The slice itself keeps them all.
func (ds Diagnostics) Error() string {
	n := min(len(ds), MaxReported)
	lines := make([]string, n, n+1)
	for i, d := range ds[:n] {
		lines[i] = d.Error()
	}
	if rest := len(ds) - n; rest > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", rest))
	}
	return strings.Join(lines, "\n")
}

func (ds Diagnostics) sort() {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Msg, b.Msg))
	})
}

// unknownTool words the diagnostic for a call of a tool not in known (sorted): the
// closest name when one is near enough to be a slip, the whole list otherwise.
func unknownTool(name string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("unknown tool %s (no tools are available)", quote(name))
	}
	best, bestDist := "", -1
	for _, k := range known {
		d := levenshtein.ComputeDistance(strings.ToLower(name), strings.ToLower(k))
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	// A slip changes at most about a third of the name.
	if bestDist <= max(2, max(len(name), len(best))/3) {
		return fmt.Sprintf("unknown tool %s (did you mean %q?)", quote(name), best)
	}
	return fmt.Sprintf("unknown tool %s (available: %s)", quote(name), strings.Join(known, ", "))
}
