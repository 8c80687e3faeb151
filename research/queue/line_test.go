package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/research"
)

func TestResultWriteLine(t *testing.T) {
	tests := []struct {
		name string
		r    *Result
		want string
	}{
		{"ok", &Result{CacheHits: 2, Attempt: 1, Record: research.Record{ID: "q1", Status: research.StatusOK, Answer: "Louise\nGlück.",
			Tokens: research.Tokens{Prompt: 7, Generated: 3}, Timings: planner.Timings{Total: 0.5}}},
			"[    1.5s] ok       q1 (0.50s, 10 tokens, 2 cache hits, attempt 1): Louise Glück.\n"},
		{"failed", &Result{Attempt: 2, Record: research.Record{ID: "q2", Status: research.StatusTimeout, Error: "ran out of time"}},
			"[    1.5s] timeout  q2 (0.00s, 0 tokens, 0 cache hits, attempt 2):\n    ran out of time\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tt.r.WriteLine(&b, 1500*time.Millisecond)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestSummaryWriteLine(t *testing.T) {
	s := &Summary{Job: "j", Questions: 4, Results: 3, OK: 2, Partial: 1, Failed: 1, Tokens: research.Tokens{Prompt: 5, Generated: 6}, Cache: 7, Elapsed: 8.25}
	var b strings.Builder
	s.WriteLine(&b)
	want := "research: job j: 3 of 4 questions answered: 2 ok (1 partial), 1 failed; tokens: 5 prompt, 6 generated; 7 cache hits; 8.2s\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
