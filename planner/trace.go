package planner

import (
	"github.com/rewoo-agent/agent/planparser"
)

// Trace is the whole record of one question: what was asked, the plan the model
// wrote, every step, every engine call, the answer and the timings. It is the
// one schema of `agent ask --json` and `agent run --json` (run's has no question
// or prompt, and its plan is the plan as planparser prints it); every time in it
// is in seconds, counted from the start of the run.
type Trace struct {
	Question string `json:"question,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
	// Plan is the plan text exactly as the model wrote it (Run: as printed).
	Plan string `json:"plan"`
	// DAG is the parsed plan: steps with their dependencies, and the Answer line.
	DAG         *planparser.Plan `json:"dag"`
	Diagnostics []string         `json:"diagnostics,omitempty"`
	Steps       []*StepTrace     `json:"steps"`
	Answer      *Answer          `json:"answer"`
	EngineCalls []EngineCall     `json:"engine_calls"`
	Timings     Timings          `json:"timings"`
	// Error says why the run did not finish, if it did not.
	Error string `json:"error,omitempty"`
	// Stop says why the planner stopped: StopAnswered, StopPartial, a budget's
	// (StopBudgetTokens...), StopBadPlan, StopFailed, StopCanceled.
	Stop string `json:"stop"`
	// Partial is true when steps failed and the answer was made from the
	// evidence there is; Failures says what failed.
	Partial  bool     `json:"partial,omitempty"`
	Failures []string `json:"failures,omitempty"`
	// Replans counts the new plans asked for after steps failed; Attempts holds
	// the plans given up (a plan repaired, a plan replanned), oldest first.
	Replans  int       `json:"replans,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// Usage is what the question spent of its budget.
	Usage Usage `json:"usage"`
}

// Step states in a StepTrace.
const (
	StatePending = "pending" // parsed, waiting for its references
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
	StateSkipped = "skipped"
)

// StepTrace is one step of the plan and what became of it.
type StepTrace struct {
	Name  string   `json:"name"`
	Tool  string   `json:"tool"`
	Input string   `json:"input"` // as the plan wrote it
	Deps  []string `json:"deps"`
	Line  int      `json:"line"`
	State string   `json:"state"`
	// ResolvedInput is the input with earlier evidence substituted in.
	ResolvedInput string `json:"resolved_input,omitempty"`
	Output        string `json:"output,omitempty"`
	// Bytes is the size of the tool's answer before trimming to the resolver's
	// MaxBytes.
	Bytes int    `json:"bytes"`
	Error string `json:"error,omitempty"`
	// Blocked is true when the tool's service refused the call as automated.
	Blocked bool     `json:"blocked,omitempty"`
	Sources []string `json:"sources"`
	// Reused is true when the evidence was an earlier plan's (of the question,
	// or of the conversation): the tool did not run again.
	Reused   bool `json:"reused,omitempty"`
	Attempts int  `json:"attempts,omitempty"`
	// Parsed, Start and Duration are in seconds; Parsed and Start count from the
	// beginning of the run.
	Parsed   float64 `json:"parsed_s"`
	Start    float64 `json:"start_s,omitempty"`
	Duration float64 `json:"duration_s,omitempty"`
}

// Answer is the resolved answer and where it came from.
type Answer struct {
	Text string `json:"text"`
	// From names the evidence the Answer line cited; empty when the answer was
	// resolved by a KnowledgeModel call over all evidence.
	From []string `json:"from"`
	// Method is "answer-line" or "knowledge-model".
	Method  string   `json:"method"`
	Sources []Source `json:"sources"`
	// Partial is true when steps failed and the answer rests on the rest.
	Partial bool `json:"partial,omitempty"`
}

// Answer methods.
const (
	MethodAnswerLine = "answer-line"
	MethodKnowledge  = "knowledge-model"
)

// Source is a URL (or other locator) the answer rests on, with the steps whose
// evidence came from it.
type Source struct {
	URL   string   `json:"url"`
	Steps []string `json:"steps"`
}

// Timings are the run's milestones, in seconds from its start.
type Timings struct {
	// PlanStart and PlanDone bound the model's writing of the plan (absent for
	// a plan given whole).
	PlanStart float64 `json:"plan_start_s,omitempty"`
	// FirstStep is when the first tool call started (0 when none did).
	FirstStep float64 `json:"first_step_s,omitempty"`
	PlanDone  float64 `json:"plan_done_s,omitempty"`
	StepsDone float64 `json:"steps_done_s,omitempty"`
	Total     float64 `json:"total_s"`
	// CriticalPath is the chain of steps that decided when the last one finished.
	CriticalPath []string `json:"critical_path,omitempty"`
}

// Step returns the step called name, or nil.
func (t *Trace) Step(name string) *StepTrace {
	for _, s := range t.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// sources lists the sources the evidence of the steps named in from came
// from: each step's own sources (a tool over earlier evidence passes on the
// sources of what it read), or, for a step that names none, those of the steps
// it depends on, and so on. A search's results that no later step read are not
// among them (the trace's steps keep them). Each URL once, in order of the
// steps, with every step the answer rests on (directly or not) that had it.
func (t *Trace) sources(from []string) []Source {
	urls := map[string]bool{} // where the evidence came from
	seen := map[string]bool{}
	var own func(name string)
	own = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		s := t.Step(name)
		if s == nil {
			return
		}
		for _, u := range s.Sources {
			urls[u] = true
		}
		if len(s.Sources) == 0 {
			for _, d := range s.Deps {
				own(d)
			}
		}
	}
	used := map[string]bool{} // the steps the answer rests on
	var mark func(name string)
	mark = func(name string) {
		if used[name] {
			return
		}
		used[name] = true
		if s := t.Step(name); s != nil {
			for _, d := range s.Deps {
				mark(d)
			}
		}
	}
	for _, n := range from {
		own(n)
		mark(n)
	}
	out := []Source{}
	index := map[string]int{}
	for _, s := range t.Steps {
		if !used[s.Name] {
			continue
		}
		for _, u := range s.Sources {
			if !urls[u] {
				continue
			}
			i, ok := index[u]
			if !ok {
				i = len(out)
				index[u] = i
				out = append(out, Source{URL: u})
			}
			if steps := out[i].Steps; len(steps) == 0 || steps[len(steps)-1] != s.Name {
				out[i].Steps = append(out[i].Steps, s.Name)
			}
		}
	}
	return out
}
