package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

// Asker answers one question through the whole loop, as planner.Planner.Ask.
type Asker func(ctx context.Context, question string) (*planner.Trace, error)

// Result is one question's outcome.
type Result struct {
	ID         string  `json:"id"`
	Question   string  `json:"question"`
	Gold       string  `json:"gold"`
	Prediction string  `json:"prediction"`
	ExactMatch float64 `json:"exact_match"`
	F1         float64 `json:"f1"`
	// ValidPlan is false when the model's plan could not be run.
	ValidPlan   bool    `json:"valid_plan"`
	Steps       int     `json:"steps"`
	EngineCalls int     `json:"engine_calls"`
	Tokens      int     `json:"tokens"`        // generated
	Prompt      int     `json:"prompt_tokens"` // read
	WallS       float64 `json:"wall_s"`
	// PlanS is the time the model took to write the plan (steps start while it
	// writes); CriticalS the summed durations of the steps on the critical path:
	// the tool time no parallelism can save.
	PlanS     float64 `json:"plan_s"`
	CriticalS float64 `json:"critical_path_s"`
	Error     string  `json:"error,omitempty"`
}

// Totals sum or average the results: ExactMatch, F1 and ValidPlans are fractions
// of the questions.
type Totals struct {
	Questions   int     `json:"questions"`
	ExactMatch  float64 `json:"exact_match"`
	F1          float64 `json:"f1"`
	ValidPlans  float64 `json:"valid_plans"`
	Errors      int     `json:"errors"`
	EngineCalls int     `json:"engine_calls"`
	Tokens      int     `json:"tokens"`
	Prompt      int     `json:"prompt_tokens"`
	WallS       float64 `json:"wall_s"`
	PlanS       float64 `json:"plan_s"`
	CriticalS   float64 `json:"critical_path_s"`
}

// Report is a whole evaluation.
type Report struct {
	Set       string   `json:"set"`
	Questions []Result `json:"questions"`
	Totals    Totals   `json:"totals"`
}

// Run asks every item in order and scores it; a question whose run fails scores 0
// and records the error. Only ctx ending stops it early, returning what was done
// and ctx's error. on, when not nil, gets each result as it comes.
func Run(ctx context.Context, set string, items []Item, ask Asker, on func(Result)) (*Report, error) {
	r := &Report{Set: set, Questions: []Result{}}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			r.total()
			return r, err
		}
		start := time.Now()
		tr, err := ask(ctx, it.Question)
		res := score(it, tr, err, time.Since(start))
		r.Questions = append(r.Questions, res)
		if on != nil {
			on(res)
		}
	}
	r.total()
	return r, nil
}

func score(it Item, tr *planner.Trace, err error, took time.Duration) Result {
	res := Result{ID: it.ID, Question: it.Question, Gold: it.Answer, ValidPlan: !errors.Is(err, planner.ErrBadPlan), WallS: took.Seconds()}
	if err != nil {
		res.Error = err.Error()
	}
	if tr == nil {
		res.ValidPlan = false
		return res
	}
	if tr.Answer != nil {
		res.Prediction = tr.Answer.Text
	}
	res.ExactMatch, res.F1 = ExactMatch(res.Prediction, it.Answer), F1(res.Prediction, it.Answer)
	res.Steps = len(tr.Steps)
	for _, c := range tr.EngineCalls {
		res.EngineCalls++
		res.Tokens += c.Tokens
		res.Prompt += c.PromptTokens
	}
	res.PlanS = tr.Timings.PlanDone - tr.Timings.PlanStart
	for _, name := range tr.Timings.CriticalPath {
		if s := tr.Step(name); s != nil {
			res.CriticalS += s.Duration
		}
	}
	return res
}

func (r *Report) total() {
	t := Totals{Questions: len(r.Questions)}
	for _, q := range r.Questions {
		t.ExactMatch += q.ExactMatch
		t.F1 += q.F1
		if q.ValidPlan {
			t.ValidPlans++
		}
		if q.Error != "" {
			t.Errors++
		}
		t.EngineCalls += q.EngineCalls
		t.Tokens += q.Tokens
		t.Prompt += q.Prompt
		t.WallS += q.WallS
		t.PlanS += q.PlanS
		t.CriticalS += q.CriticalS
	}
	if n := float64(t.Questions); n > 0 {
		t.ExactMatch, t.F1, t.ValidPlans = t.ExactMatch/n, t.F1/n, t.ValidPlans/n
	}
	r.Totals = t
}

// WriteTable writes the report as a table: one row a question, then the totals.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tEM\tF1\tplan\tsteps\tcalls\ttokens\twall s\tplan s\tcritical s\tanswer | gold")
	for _, q := range r.Questions {
		plan := "ok"
		if !q.ValidPlan {
			plan = "bad"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s | %s\n", q.ID, q.ExactMatch, q.F1, plan, q.Steps,
			q.EngineCalls, q.Tokens, q.WallS, q.PlanS, q.CriticalS, oneLine(q.Prediction, 40), q.Gold)
	}
	t := r.Totals
	fmt.Fprintf(tw, "total (%d)\t%.1f%%\t%.1f%%\t%.0f%%\t\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d errors\n", t.Questions, 100*t.ExactMatch, 100*t.F1,
		100*t.ValidPlans, t.EngineCalls, t.Tokens, t.WallS, t.PlanS, t.CriticalS, t.Errors)
	return tw.Flush()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}
