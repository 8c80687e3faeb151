package askview

import (
	"errors"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
)

// TestAnswerStream: a streamed answer is not printed again; one that differs
// from the answer resolved (a retried call) is followed by the answer whole;
// the view stops once, at the first piece; a partial answer says what failed.
func TestAnswerStream(t *testing.T) {
	tr := &planner.Trace{Answer: &planner.Answer{Text: "Louise Glück.", Sources: []planner.Source{{URL: "https://a.example/", Steps: []string{":evidence1:"}}}}}
	tests := []struct {
		name   string
		pieces []string
		want   string
	}{
		{"whole", []string{" Louise", " Glück.", "\n"}, "Louise Glück.\n\nSources:\n  [1] https://a.example/ (:evidence1:)\n"},
		{"differs", []string{" Louise", " Gl"}, "Louise Gl\n\n(the answer, as it was resolved:)\nLouise Glück.\n\nSources:\n  [1] https://a.example/ (:evidence1:)\n"},
		{"none", nil, "Louise Glück.\n\nSources:\n  [1] https://a.example/ (:evidence1:)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			stops := 0
			a := &AnswerStream{W: &out, Before: func() { stops++ }}
			for _, p := range tt.pieces {
				if !a.Write(p) {
					t.Fatal("write refused")
				}
			}
			a.StopView()
			if err := a.Finish(tr.Answer); err != nil {
				t.Fatal(err)
			}
			if err := WriteAnswer(&out, tr, a.Streamed()); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want || stops != 1 {
				t.Errorf("stdout %q (view stopped %d times), want %q", out.String(), stops, tt.want)
			}
		})
	}
	var out strings.Builder
	partial := &planner.Trace{Partial: true, Failures: []string{":evidence1: = DuckDuckGo[x] blocked: search engine blocked the request"},
		Answer: &planner.Answer{Text: "From the rest.", Partial: true, Sources: []planner.Source{}}}
	if err := WriteAnswer(&out, partial, false); err != nil {
		t.Fatal(err)
	}
	if want := "From the rest.\n\nPartial answer: it rests on the evidence there was; these steps failed:\n  :evidence1: = DuckDuckGo[x] blocked: search engine blocked the request\n"; out.String() != want {
		t.Errorf("partial: %q, want %q", out.String(), want)
	}
}

// reportTrace is a run cut short: one step done, one blocked, one failed, one
// never started.
func reportTrace() *planner.Trace {
	return &planner.Trace{
		Timings: planner.Timings{Total: 2.5},
		Steps: []*planner.StepTrace{
			{Name: ":evidence0:", Tool: "DuckDuckGo", Input: "x", State: planner.StateDone, Duration: 1.25, Output: "results\nmore"},
			{Name: ":evidence1:", Tool: "TextScraper", Input: ":evidence0:", State: planner.StateFailed, Blocked: true, Error: "blocked:\nas automated"},
			{Name: ":evidence2:", Tool: "TextScraper", Input: "y", State: planner.StateFailed, Error: "refused"},
			{Name: ":evidence3:", Tool: "LLM", Input: "z", State: planner.StatePending},
		},
	}
}

func TestWriteDone(t *testing.T) {
	var b strings.Builder
	WriteDone(&b, reportTrace(), "interrupted")
	want := "interrupted after 2.5s: 1 of 4 steps done\n" +
		"  done     :evidence0: = DuckDuckGo[x] in 1.25s: results more\n" +
		"  blocked  :evidence1: = TextScraper[:evidence0:]: blocked: as automated\n" +
		"  failed   :evidence2: = TextScraper[y]: refused\n" +
		"  pending  :evidence3: = LLM[z]\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteFailures(t *testing.T) {
	var b strings.Builder
	WriteFailures(&b, reportTrace())
	want := "blocked :evidence1: = TextScraper[:evidence0:]: blocked: as automated\n" +
		"failed :evidence2: = TextScraper[y]: refused\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteBadPlan(t *testing.T) {
	tests := []struct {
		name string
		tr   *planner.Trace
		err  error
		want string
	}{
		{"diagnostics", &planner.Trace{Plan: "Plan: a\n#E1 = X[y]\n", Diagnostics: []string{"2: unknown tool X"}},
			errors.New("bad plan:\nline 2"),
			"bad plan. The plan:\n   1 | Plan: a\n   2 | #E1 = X[y]\nProblems:\n  plan:2: unknown tool X\n"},
		{"none", &planner.Trace{Plan: "nothing"}, errors.New("the plan hit the token limit"),
			"the plan hit the token limit. The plan:\n   1 | nothing\nthe plan hit the token limit\n"},
		{"repaired", &planner.Trace{Plan: "after", Diagnostics: []string{"1: still bad"},
			Attempts: []planner.Attempt{{Why: planner.AttemptBadPlan, Plan: "before", Diagnostics: []string{"1: bad"}}}},
			errors.New("bad plan"),
			"The plan before its repair (the model was shown its problems):\n   1 | before\nProblems:\n  plan:1: bad\n" +
				"bad plan, after one repair. The repaired plan:\n   1 | after\nProblems:\n  plan:1: still bad\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			WriteBadPlan(&b, tt.tr, tt.err)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}
