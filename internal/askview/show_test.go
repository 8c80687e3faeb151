package askview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
)

func TestShow(t *testing.T) {
	dag, err := planparser.Parse("Plan: look.\n:evidence0: = Search[x]\nAnswer: :evidence0:\n", planparser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	answered := func() *planner.Trace {
		return &planner.Trace{Plan: "Plan: look.", DAG: dag, Answer: &planner.Answer{Text: "42",
			Sources: []planner.Source{{URL: "https://example.org", Steps: []string{":evidence0:"}}}}}
	}
	quietFailures := reportTrace()
	quietFailures.Answer = &planner.Answer{Text: "partly", Partial: true}
	errLimit := errors.New("the time limit (1s, --timeout) ran out")
	errEngine := errors.New("the engine broke")
	tests := []struct {
		name        string
		o           Options
		stream      []string // the answer's text events
		tr          *planner.Trace
		err, limit  error
		interrupted bool
		want        error  // Finish's error
		out         string // stdout, whole ("" with outHas)
		outHas      string
		progressHas string
	}{
		{name: "answer streamed", stream: []string{" 4", "2"}, tr: answered(),
			out: "42\n\nSources:\n  [1] https://example.org (:evidence0:)\n", progressHas: "plan complete"},
		{name: "answer resolved", tr: answered(), out: "42\n\nSources:\n  [1] https://example.org (:evidence0:)\n"},
		{name: "json", o: Options{JSON: true}, stream: []string{"42"}, tr: answered(), outHas: `"text": "42"`},
		{name: "plan only", o: Options{PlanOnly: true}, tr: answered(), out: dag.String()},
		{name: "bad plan", tr: &planner.Trace{Plan: "nonsense"}, err: fmt.Errorf("%w: no steps", planner.ErrBadPlan),
			want: ErrShown, progressHas: "   1 | nonsense"},
		{name: "bad plan as json", o: Options{JSON: true}, tr: &planner.Trace{Plan: "nonsense"}, err: fmt.Errorf("%w: no steps", planner.ErrBadPlan),
			want: ErrShown, outHas: `"plan": "nonsense"`, progressHas: "   1 | nonsense"},
		{name: "timed out", tr: reportTrace(), err: context.Canceled, limit: errLimit, interrupted: true, want: errLimit,
			progressHas: "timed out after 2.5s: 1 of 4 steps done"},
		{name: "interrupted", tr: reportTrace(), err: context.Canceled, interrupted: true, want: context.Canceled,
			progressHas: "interrupted after 2.5s"},
		{name: "stopped", tr: reportTrace(), err: errEngine, want: errEngine, progressHas: "stopped after 2.5s"},
		{name: "stopped without a trace", err: errEngine, want: errEngine},
		{name: "quiet keeps the failures", o: Options{Quiet: true}, tr: quietFailures, outHas: "partly\n",
			progressHas: "failed :evidence2: = TextScraper[y]: refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, progress strings.Builder
			s := NewShow(&out, &progress, tt.o)
			s.Event(planner.Event{Kind: planner.PlanDone, Text: "Plan: look."})
			for _, text := range tt.stream {
				s.Event(planner.Event{Kind: planner.AnswerText, Text: text})
			}
			err := s.Finish(tt.tr, tt.err, tt.limit, tt.interrupted)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.outHas == "" && out.String() != tt.out {
				t.Errorf("stdout %q, want %q", out.String(), tt.out)
			}
			if !strings.Contains(out.String(), tt.outHas) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.outHas)
			}
			if tt.o.JSON && tt.tr != nil {
				var tr struct{ Plan string }
				if err := json.Unmarshal([]byte(out.String()), &tr); err != nil || tr.Plan != tt.tr.Plan {
					t.Errorf("stdout is not the trace (%v): %s", err, out.String())
				}
			}
			if !strings.Contains(progress.String(), tt.progressHas) {
				t.Errorf("progress %q lacks %q", progress.String(), tt.progressHas)
			}
			if tt.o.Quiet && strings.Contains(progress.String(), "plan complete") {
				t.Errorf("quiet, yet progress %q", progress.String())
			}
		})
	}
}
