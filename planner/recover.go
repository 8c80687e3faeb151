package planner

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rewoo-agent/agent/tools"
)

// Stop reasons of a Trace: why the planner stopped working on the question.
const (
	StopAnswered          = "answered"     // the answer is complete
	StopPartial           = "partial"      // steps failed and no new plan could help (or none was allowed)
	StopReplanLimit       = "replan-limit" // steps failed after the last replan allowed
	StopBadPlan           = "bad-plan"     // no plan that can be run, repair included
	StopFailed            = "failed"       // no answer could be made
	StopCanceled          = "canceled"     // the caller's context ended
	StopBudgetTokens      = "budget-tokens"
	StopBudgetEngineCalls = "budget-engine-calls"
	StopBudgetToolCalls   = "budget-tool-calls"
	StopBudgetTime        = "budget-time"
)

// Attempt is a plan of the question that was given up: one that could not be
// run (then repaired), or one whose steps failed (then replanned). The
// evidence its steps gathered is reused by the plans after it.
type Attempt struct {
	// Why is "bad-plan" or "steps-failed".
	Why         string       `json:"why"`
	Plan        string       `json:"plan"`
	Diagnostics []string     `json:"diagnostics,omitempty"`
	Steps       []*StepTrace `json:"steps"`
}

// Reasons an Attempt was given up.
const (
	AttemptBadPlan     = "bad-plan"
	AttemptStepsFailed = "steps-failed"
)

// maxShown bounds the evidence text a repair or replan prompt quotes per step.
const maxShown = 600

// shownSteps are the quotes a repair or replan prompt tries, longest first,
// until the prompt leaves a plan room in the model's context (fit).
var shownSteps = []int{maxShown, maxShown / 2, maxShown / 5, maxShown / 20}

// minPlanRoom is the fewest context positions a new plan must have left after
// its prompt: under it the repair or replan is not asked for, and the answer
// is made from the evidence there is.
const minPlanRoom = 128

// firstNewFormat tells a new plan the name of its first step (serverGrammar
// reads it back).
const firstNewFormat = "Name the plan's first new evidence %s."

// gatheredSection lists the evidence already gathered, which a new plan may
// cite by name without writing its steps again, and the name the next step
// takes: after those of done and of taken (the names a failed plan used).
func gatheredSection(done []*StepTrace, taken ...*StepTrace) string {
	return gatheredShown(maxShown, done, taken...)
}

// gatheredShown is gatheredSection quoting at most shown bytes of each step's
// evidence.
func gatheredShown(shown int, done []*StepTrace, taken ...*StepTrace) string {
	if len(done) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\nEvidence already gathered, which the plan may cite by name (do not write these steps again):\n")
	for _, t := range done {
		fmt.Fprintf(&b, "%s = %s[%s]\n  %s\n", t.Name, t.Tool, t.Input, shorten(t.Output, shown))
	}
	fmt.Fprintf(&b, firstNewFormat, nextName(slices.Concat(done, taken)))
	return b.String()
}

// repairSection asks for the plan again, with what was wrong with it.
func repairSection(plan string, diags []string, err error) string {
	var b strings.Builder
	b.WriteString("\n\nA plan was written for this question, but it cannot be run:\n")
	b.WriteString(strings.TrimRight(plan, "\n"))
	b.WriteString("\nThe problems (line:column: message):\n")
	for _, d := range diags {
		b.WriteString(d + "\n")
	}
	if len(diags) == 0 && err != nil {
		b.WriteString(err.Error() + "\n")
	}
	b.WriteString("Write the whole plan again, in the format above, without these problems: only the tools listed, only evidence defined before it is cited, one Answer line.")
	return b.String()
}

// replanSection shows the plan whose steps failed, and why, and asks for a new
// plan that gets the answer another way.
func replanSection(plan string, failed []*StepTrace, shown int) string {
	var b strings.Builder
	b.WriteString("\n\nAn earlier plan for this question was run:\n")
	b.WriteString(strings.TrimRight(plan, "\n"))
	b.WriteString("\nThese of its steps failed:\n")
	for _, t := range failed {
		fmt.Fprintf(&b, "%s = %s[%s]: %s %s\n", t.Name, t.Tool, t.Input, t.State, shorten(t.Error, shown))
	}
	b.WriteString("Write a new plan that gets the answer another way (other tools, other inputs), citing the evidence gathered where it helps.")
	return b.String()
}

// prefixText is the steps of done written as plan lines, to stand before a
// new plan that may cite them.
func prefixText(done []*StepTrace) string {
	var b strings.Builder
	for _, t := range done {
		fmt.Fprintf(&b, "%s = %s[%s]\n", t.Name, t.Tool, t.Input)
	}
	return b.String()
}

var numberedRE = regexp.MustCompile(`^(.*?)(\d+)(\D*)$`)

// nextName continues the numbering of the steps' names: after :evidence2:
// comes :evidence3: (#E3 after #E2).
func nextName(done []*StepTrace) string {
	best, form := -1, []string{":evidence", ":"}
	for _, t := range done {
		m := numberedRE.FindStringSubmatch(t.Name)
		if m == nil {
			continue
		}
		if n, err := strconv.Atoi(m[2]); err == nil && n > best {
			best, form = n, []string{m[1], m[3]}
		}
	}
	return fmt.Sprintf("%s%d%s", form[0], best+1, form[1])
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// failure describes a step that gave no evidence, naming a block as such.
func failure(t *StepTrace) string {
	what := t.State
	if t.Blocked {
		what = "blocked"
	}
	return fmt.Sprintf("%s = %s[%s] %s: %s", t.Name, t.Tool, t.Input, what, t.Error)
}

// blockedErr wraps tools.ErrBlocked when a step was blocked, so that callers
// (a research job's record) name the block.
func blockedErr(steps []*StepTrace) error {
	for _, t := range steps {
		if t.Blocked {
			return tools.ErrBlocked
		}
	}
	return nil
}
