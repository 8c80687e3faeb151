package askview

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/rewoo-agent/agent/planner"
)

// Options are how a question's run is shown.
type Options struct {
	PlanOnly bool // the run writes and checks the plan only: its DAG is the result
	JSON     bool // the result is the whole trace, as JSON
	Quiet    bool // no progress (a failed step's whole reason still shows)
}

// ErrShown is returned for a run whose failure Finish has shown whole (a plan
// that cannot run, with its problems), so that nothing need repeat it.
var ErrShown = errors.New("the failure is shown")

// Show is one question's run as ask shows it: the progress view on progress
// as the events arrive, the answer streamed to out as it is written, and what
// the run leaves, when it ends (Finish).
type Show struct {
	out, progress io.Writer
	o             Options
	view          Progress
	ans           *AnswerStream
}

// NewShow shows a run on out and progress as o says.
func NewShow(out, progress io.Writer, o Options) *Show {
	view := New(progress, o.Quiet)
	// The answer streams to out as it is written, unless out is for the JSON trace.
	return &Show{out: out, progress: progress, o: o, view: view,
		ans: &AnswerStream{W: out, Off: o.JSON || o.PlanOnly, Before: view.Stop}}
}

// Event shows one of the run's events.
func (s *Show) Event(e planner.Event) {
	if e.Kind == planner.AnswerText && s.ans.Write(e.Text) {
		return
	}
	s.view.Event(e)
}

// Approver is Approver over the show's view: nil without a terminal.
func (s *Show) Approver(in io.Reader) func(context.Context, planner.Approval) error {
	return Approver(in, s.progress, s.view)
}

// Finish ends the view and shows what the run left: its trace tr and its
// error err. limit, when not nil, is the time limit that ended the run (it is
// returned instead of err); interrupted says that the run's context ended
// otherwise. A plan that cannot run is shown whole with ErrShown returned.
func (s *Show) Finish(tr *planner.Trace, err, limit error, interrupted bool) error {
	s.ans.StopView()
	if s.o.JSON && tr != nil {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tr); err != nil {
			return err
		}
	}
	// The reasons of failed steps, whole, where the view gave none or cut them
	// (WriteDone lists them after a run that did not finish).
	if _, live := s.view.(*Live); tr != nil && err == nil && (s.o.Quiet || live) {
		WriteFailures(s.progress, tr)
	}
	switch {
	case errors.Is(err, planner.ErrBadPlan):
		WriteBadPlan(s.progress, tr, err)
		return ErrShown
	case err != nil:
		what := "stopped"
		switch {
		case limit != nil:
			what = "timed out"
		case interrupted:
			what = "interrupted"
		}
		if tr != nil {
			WriteDone(s.progress, tr, what)
		}
		if limit != nil {
			return limit
		}
		return err
	case s.o.JSON:
		return nil
	case s.o.PlanOnly:
		_, err := io.WriteString(s.out, tr.DAG.String())
		return err
	}
	if err := s.ans.Finish(tr.Answer); err != nil {
		return err
	}
	return WriteAnswer(s.out, tr, s.ans.Streamed())
}
