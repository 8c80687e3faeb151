package research

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/tools"
)

// TestRecordStatusPartialBlocked: a partial answer is recorded as partial with
// what failed, and a question a block left without an answer as blocked, its
// reason naming the block rather than missing evidence.
func TestRecordStatusPartialBlocked(t *testing.T) {
	tests := []struct {
		name, status, reason string
		tr                   *planner.Trace
		err                  error
	}{
		{"partial", StatusPartial, "partial: :evidence1: = DuckDuckGo[x] blocked: search engine blocked the request",
			&planner.Trace{Partial: true, Failures: []string{":evidence1: = DuckDuckGo[x] blocked: search engine blocked the request"},
				Answer: &planner.Answer{Text: "from the rest", Partial: true}}, nil},
		{"blocked", StatusBlocked, "no answer: blocked: DuckDuckGo",
			&planner.Trace{}, fmt.Errorf("%w: %w: DuckDuckGo", planner.ErrAnswer, tools.ErrBlocked)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeAsker{answer: func(context.Context, string) (*planner.Trace, error) { return tt.tr, tt.err }}
			rec, err := (&Runner{}).Answer(context.Background(), a, Question{ID: "1", Text: "q?"})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != tt.status || !strings.HasPrefix(rec.Error, tt.reason) || rec.Partial != (tt.status == StatusPartial) {
				t.Errorf("status %q, error %q, partial %v; want %q, %q", rec.Status, rec.Error, rec.Partial, tt.status, tt.reason)
			}
			var tl Tally
			tl.add(rec)
			if tl.NotOK() != 1 || tl.Partial+tl.Blocked != 1 {
				t.Errorf("tally %+v", tl)
			}
		})
	}
}
