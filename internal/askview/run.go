package askview

import (
	"fmt"
	"io"

	"github.com/rewoo-agent/agent/planner"
)

// WriteRunEvent writes the progress line of one event of a plan's run (agent
// run's), its time first; events other than a step's write nothing.
func WriteRunEvent(w io.Writer, e planner.Event) {
	at := fmt.Sprintf("[%7.2fs] %s", e.At.Seconds(), e.Step.Name)
	switch e.Kind {
	case planner.StepStarted:
		fmt.Fprintf(w, "%s %s started\n", at, e.Step.Tool)
	case planner.StepRetrying:
		fmt.Fprintf(w, "%s attempt %d failed (%v); retrying in %s\n", at, e.Attempt-1, e.Err, e.Delay)
	case planner.StepFinished:
		fmt.Fprintf(w, "%s finished in %.2fs (%d bytes, %d sources)\n", at, e.Step.Duration, e.Step.Bytes, len(e.Step.Sources))
	case planner.StepFailed:
		fmt.Fprintf(w, "%s failed after %.2fs: %v\n", at, e.Step.Duration, e.Err)
	case planner.StepSkipped:
		fmt.Fprintf(w, "%s skipped: %s\n", at, e.Text)
	}
}

// WriteEvidence writes each step's evidence, one "name = content" line each.
func WriteEvidence(w io.Writer, tr *planner.Trace) error {
	for _, s := range tr.Steps {
		if _, err := fmt.Fprintf(w, "%s = %s\n", s.Name, s.Content()); err != nil {
			return err
		}
	}
	return nil
}
