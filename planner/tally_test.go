package planner

import "testing"

func TestTallyAndContent(t *testing.T) {
	done := &StepTrace{Name: "#E1", State: StateDone, Output: "found"}
	failed := &StepTrace{Name: "#E2", State: StateFailed, Error: "timeout"}
	skipped := &StepTrace{Name: "#E3", State: StateSkipped, Error: "#E2 failed"}
	tests := []struct {
		steps []*StepTrace
		want  string
	}{
		{nil, "0 ok"},
		{[]*StepTrace{done, done}, "2 ok"},
		{[]*StepTrace{done, failed, skipped, skipped}, "1 ok, 1 failed, 2 skipped"},
	}
	for _, tt := range tests {
		if got := (&Trace{Steps: tt.steps}).Tally(); got != tt.want {
			t.Errorf("Tally() = %q, want %q", got, tt.want)
		}
	}
	if got := done.Content(); got != "found" {
		t.Errorf("done: %q", got)
	}
	if got, want := failed.Content(), "(no evidence: #E2 failed: timeout)"; got != want {
		t.Errorf("failed: %q, want %q", got, want)
	}
}
