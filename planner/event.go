package planner

import "time"

// EventKind names what happened during Ask.
type EventKind int

const (
	// PlanText: the model wrote more of the plan (Text).
	PlanText EventKind = iota
	// StepParsed: a step's line is complete and the step was handed to the resolver.
	StepParsed
	// StepStarted: the step's tool call began (Attempt counts calls).
	StepStarted
	// StepRetrying: a call failed transiently (Err) and will be tried again.
	StepRetrying
	// StepFinished: the step produced evidence.
	StepFinished
	// StepFailed: the step failed (Err).
	StepFailed
	// StepSkipped: the step will not run (Text is the reason).
	StepSkipped
	// PlanDone: the model finished the plan; Text is the whole plan. Err, when
	// not nil, says why the writing broke off (an interrupt, a server's error).
	PlanDone
	// Answering: a KnowledgeModel call is resolving the answer over all evidence.
	Answering
	// NewPlan: the plan so far is given up and the model writes another; Text
	// is why, "repair" (it could not be run) or "replan" (steps failed). The
	// steps and plan text that follow are the new plan's.
	NewPlan
	// AnswerText: the answer is being written (Text is the next piece), by the
	// KnowledgeModel step the Answer line cites whole or by the answer over all
	// evidence; the Answer in the trace is the final word.
	AnswerText
)

var kindNames = [...]string{"plan-text", "step-parsed", "step-started", "step-retrying",
	"step-finished", "step-failed", "step-skipped", "plan-done", "answering", "new-plan", "answer-text"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "EventKind(?)"
}

// Event is one thing that happened during Ask. Step, when set, is a snapshot of the
// step's record at the time of the event.
type Event struct {
	Kind    EventKind
	At      time.Duration // since Ask began
	Text    string
	Step    StepTrace
	Attempt int
	Delay   time.Duration // StepRetrying: the wait before the next call
	Err     error
}
