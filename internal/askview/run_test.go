package askview

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

func TestWriteRunEvent(t *testing.T) {
	step := planner.StepTrace{Name: "#E1", Tool: "Search", Duration: 1.5, Bytes: 42, Sources: []string{"a", "b"}}
	tests := []struct {
		name string
		e    planner.Event
		want string
	}{
		{"started", planner.Event{Kind: planner.StepStarted, At: 250 * time.Millisecond, Step: step}, "[   0.25s] #E1 Search started\n"},
		{"retrying", planner.Event{Kind: planner.StepRetrying, At: time.Second, Step: step, Attempt: 2, Err: errors.New("503"), Delay: time.Second},
			"[   1.00s] #E1 attempt 1 failed (503); retrying in 1s\n"},
		{"finished", planner.Event{Kind: planner.StepFinished, At: 2 * time.Second, Step: step}, "[   2.00s] #E1 finished in 1.50s (42 bytes, 2 sources)\n"},
		{"failed", planner.Event{Kind: planner.StepFailed, At: 2 * time.Second, Step: step, Err: errors.New("boom")}, "[   2.00s] #E1 failed after 1.50s: boom\n"},
		{"skipped", planner.Event{Kind: planner.StepSkipped, Step: step, Text: "#E0 failed"}, "[   0.00s] #E1 skipped: #E0 failed\n"},
		{"plan text", planner.Event{Kind: planner.PlanText, Text: "Plan:"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			WriteRunEvent(&b, tt.e)
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}

func TestWriteEvidence(t *testing.T) {
	tr := &planner.Trace{Steps: []*planner.StepTrace{
		{Name: "#E1", State: planner.StateDone, Output: "Paris"},
		{Name: "#E2", State: "failed", Error: "timeout"},
	}}
	var b strings.Builder
	if err := WriteEvidence(&b, tr); err != nil {
		t.Fatal(err)
	}
	if want := "#E1 = Paris\n#E2 = (no evidence: #E2 failed: timeout)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
