package research

import (
	"time"

	"github.com/rewoo-agent/agent/planner"
)

// Statuses of a Record.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusBadPlan = "bad_plan"
	StatusTimeout = "timeout"
	// StatusPartial: steps failed and the answer was made from the rest of
	// the evidence; Error says what failed. Not ok: --retry-failed runs it again.
	StatusPartial = "partial"
	// StatusBlocked: no answer, because a service (a search engine) blocked the
	// agent's requests as automated.
	StatusBlocked = "blocked"
)

// Record is one line of a journal: a finished question. Its fields are those of
// ask --json where they mean the same.
type Record struct {
	ID       string           `json:"id"`
	Question string           `json:"question"`
	Status   string           `json:"status"`
	Answer   string           `json:"answer"`
	Sources  []planner.Source `json:"sources"`
	// Error is why the question failed, whole (for a partial answer: what
	// failed, one step a line).
	Error string `json:"error,omitempty"`
	// Partial is true for an answer made from the evidence there was after
	// steps failed (StatusPartial).
	Partial bool `json:"partial,omitempty"`
	// Prompt is kept with Runner.Full only.
	Prompt      string               `json:"prompt,omitempty"`
	Plan        string               `json:"plan"`
	Diagnostics []string             `json:"diagnostics,omitempty"`
	Steps       []Step               `json:"steps"`
	EngineCalls []planner.EngineCall `json:"engine_calls"`
	Tokens      Tokens               `json:"tokens"`
	Started     time.Time            `json:"started"`
	Timings     planner.Timings      `json:"timings"`
}

// Step is a step's trace; its output and resolved input are kept with
// Runner.Full only, Bytes says how long the output was.
type Step struct {
	*planner.StepTrace
	Bytes int `json:"bytes"`
}

// Tokens are the tokens of all a question's engine calls.
type Tokens struct {
	Prompt    int `json:"prompt"`
	Generated int `json:"generated"`
}

// Head is the part of a record a job reads back from its journal.
type Head struct {
	ID       string
	Question string
	Status   string
}

// newRecord is the record of q, answered or not, with what tr holds; full keeps
// the prompt and the steps' outputs and resolved inputs.
func newRecord(q Question, started time.Time, tr *planner.Trace, full bool) *Record {
	rec := &Record{ID: q.ID, Question: q.Text, Status: StatusOK, Sources: []planner.Source{},
		Steps: []Step{}, EngineCalls: []planner.EngineCall{}, Started: started.UTC()}
	if tr == nil {
		return rec
	}
	if tr.Answer != nil {
		rec.Answer, rec.Sources = tr.Answer.Text, tr.Answer.Sources
	}
	if full {
		rec.Prompt = tr.Prompt
	}
	rec.Plan, rec.Diagnostics, rec.Timings = tr.Plan, tr.Diagnostics, tr.Timings
	for _, s := range tr.Steps {
		st := *s
		if !full {
			st.Output, st.ResolvedInput = "", ""
		}
		rec.Steps = append(rec.Steps, Step{&st, len(s.Output)})
	}
	rec.EngineCalls = append(rec.EngineCalls, tr.EngineCalls...)
	for _, c := range tr.EngineCalls {
		rec.Tokens.Prompt += c.PromptTokens
		rec.Tokens.Generated += c.Tokens
	}
	return rec
}

// slim drops what only full records keep, for a record too long for a journal.
func (r *Record) slim() {
	r.Prompt = ""
	for i, s := range r.Steps {
		st := *s.StepTrace
		st.Output, st.ResolvedInput = "", ""
		r.Steps[i].StepTrace = &st
	}
}
