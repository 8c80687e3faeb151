package planner

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPlanDoneErr: PlanDone carries the error that cut the plan's writing, and
// none when the plan was written to its end.
func TestPlanDoneErr(t *testing.T) {
	p, _, _ := newPlanner(t, planWithAnswer, 0)
	var done []Event
	if _, err := p.Ask(context.Background(), "q?", func(e Event) {
		if e.Kind == PlanDone {
			done = append(done, e)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Err != nil {
		t.Fatalf("a complete plan: PlanDone events %+v, want one without Err", done)
	}

	p, _, _ = newPlanner(t, planWithAnswer, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done = nil
	_, err := p.Ask(ctx, "q?", func(e Event) {
		if e.Kind == PlanText {
			cancel() // while the model writes
		}
		if e.Kind == PlanDone {
			done = append(done, e)
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(done) != 1 || !errors.Is(done[0].Err, context.Canceled) {
		t.Errorf("an interrupted plan: PlanDone events %+v, want one with the cancel as Err", done)
	}
}
