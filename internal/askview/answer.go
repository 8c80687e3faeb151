package askview

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/rewoo-agent/agent/internal/termtext"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
)

// AnswerStream writes the answer to stdout while it is written. The progress
// view stops (before) at its first piece, so the two do not mix on a terminal.
type AnswerStream struct {
	W      io.Writer // stdout
	Off    bool      // nothing streams: the answer is for the JSON trace, or there is none
	Before func()    // stops the progress view

	mu      sync.Mutex
	text    strings.Builder
	held    string // trailing white space, written only when more text follows
	stopped bool
	err     error
}

// Write writes a piece of the answer; false when the stream is off.
func (a *AnswerStream) Write(text string) bool {
	if a.Off {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopped {
		a.stopped = true
		a.Before()
	}
	if a.text.Len() == 0 {
		text = strings.TrimLeft(text, " \n")
	}
	a.text.WriteString(text)
	text = a.held + text
	body := strings.TrimRight(text, " \t\r\n")
	a.held = text[len(body):]
	if a.err == nil && body != "" {
		_, a.err = io.WriteString(a.W, body)
	}
	return true
}

// StopView stops the progress view, unless the answer did already.
func (a *AnswerStream) StopView() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopped {
		a.stopped = true
		a.Before()
	}
}

// Finish ends the streamed answer. When what streamed is not the answer (a
// retried call, text the knowledge model trimmed) the answer follows whole.
func (a *AnswerStream) Finish(ans *planner.Answer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil || a.text.Len() == 0 {
		return a.err
	}
	got := strings.TrimSpace(a.text.String())
	a.text.Reset()
	if got == ans.Text {
		a.text.WriteString(got)
		return nil
	}
	_, err := fmt.Fprintf(a.W, "\n\n(the answer, as it was resolved:)\n")
	return err
}

// Streamed reports whether the whole answer is on stdout already.
func (a *AnswerStream) Streamed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.text.Len() > 0
}

// WriteAnswer writes the answer (unless streamed: it is on stdout
// already), what failed when it is partial, then the sources its evidence came
// from with the steps that used them.
func WriteAnswer(w io.Writer, tr *planner.Trace, streamed bool) error {
	a := tr.Answer
	var b strings.Builder
	if !streamed {
		b.WriteString(a.Text)
	}
	b.WriteString("\n")
	if a.Partial {
		b.WriteString("\nPartial answer: it rests on the evidence there was; these steps failed:\n")
		for _, f := range tr.Failures {
			fmt.Fprintf(&b, "  %s\n", termtext.Flat(f))
		}
	}
	if len(a.Sources) > 0 {
		b.WriteString("\nSources:\n")
		for i, s := range a.Sources {
			fmt.Fprintf(&b, "  [%d] %s (%s)\n", i+1, s.URL, strings.Join(s.Steps, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteBadPlan shows the plan the model wrote, numbered, and what is wrong with it.
// The error's first line says why in a word (such as the token limit).
func WriteBadPlan(w io.Writer, tr *planner.Trace, err error) {
	why, _, _ := strings.Cut(err.Error(), "\n")
	why = strings.TrimSuffix(why, ":")
	repaired := false
	for _, a := range tr.Attempts {
		if a.Why != planner.AttemptBadPlan {
			continue
		}
		repaired = true
		fmt.Fprintln(w, "The plan before its repair (the model was shown its problems):")
		for i, l := range strings.Split(strings.TrimRight(a.Plan, "\n"), "\n") {
			fmt.Fprintf(w, "%4d | %s\n", i+1, termtext.Clip(l, planparser.MaxMessage))
		}
		fmt.Fprintln(w, "Problems:")
		for _, d := range a.Diagnostics {
			fmt.Fprintln(w, "  plan:"+d)
		}
	}
	if repaired {
		why += ", after one repair. The repaired plan"
	} else {
		why += ". The plan"
	}
	fmt.Fprintln(w, why+":")
	for i, l := range strings.Split(strings.TrimRight(tr.Plan, "\n"), "\n") {
		fmt.Fprintf(w, "%4d | %s\n", i+1, termtext.Clip(l, planparser.MaxMessage))
	}
	if len(tr.Diagnostics) == 0 {
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "Problems:")
	for _, d := range tr.Diagnostics {
		fmt.Fprintln(w, "  plan:"+d)
	}
}

// WriteDone reports, after a run that did not finish (what says how it ended),
// what it got done.
func WriteDone(w io.Writer, tr *planner.Trace, what string) {
	done := 0
	for _, s := range tr.Steps {
		if s.State == planner.StateDone {
			done++
		}
	}
	fmt.Fprintf(w, "%s after %.1fs: %d of %d steps done\n", what, tr.Timings.Total, done, len(tr.Steps))
	for _, s := range tr.Steps {
		line := fmt.Sprintf("  %-8s %s = %s[%s]", stateWord(s), s.Name, s.Tool, termtext.ClipLine(s.Input, 60))
		switch s.State {
		case planner.StateDone:
			line += fmt.Sprintf(" in %.2fs: %s", s.Duration, termtext.ClipLine(s.Output, 80))
		case planner.StateFailed, planner.StateSkipped:
			line += ": " + termtext.Flat(s.Error) // the reason whole: it is what to act on
		}
		fmt.Fprintln(w, line)
	}
}

// WriteFailures writes each failed step's reason whole, one line each.
func WriteFailures(w io.Writer, tr *planner.Trace) {
	for _, s := range tr.Steps {
		if s.State == planner.StateFailed {
			fmt.Fprintf(w, "%s %s = %s[%s]: %s\n", stateWord(s), s.Name, s.Tool, termtext.ClipLine(s.Input, 60), termtext.Flat(s.Error))
		}
	}
}

// stateWord is a step's state as shown: "blocked" for a step whose service
// refused it as automated, not the "failed" of any other error.
func stateWord(s *planner.StepTrace) string {
	if s.Blocked {
		return "blocked"
	}
	return s.State
}
