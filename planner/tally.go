package planner

import (
	"fmt"
	"strings"
)

// Tally counts the steps by state, e.g. "3 ok, 1 failed, 2 skipped" (the ok
// count always, the others when there are any).
func (t *Trace) Tally() string {
	counts := map[string]int{}
	for _, s := range t.Steps {
		counts[s.State]++
	}
	parts := []string{fmt.Sprintf("%d ok", counts[StateDone])}
	for _, st := range []string{StateFailed, StateSkipped} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return strings.Join(parts, ", ")
}

// Content is what a reference to the step's evidence reads as: its output, or
// why there is none.
func (s *StepTrace) Content() string {
	if s.State == StateDone {
		return s.Output
	}
	return fmt.Sprintf("(no evidence: %s %s: %s)", s.Name, s.State, s.Error)
}
