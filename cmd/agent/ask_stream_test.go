package main

import (
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
			a := &answerStream{w: &out, before: func() { stops++ }}
			for _, p := range tt.pieces {
				if !a.write(p) {
					t.Fatal("write refused")
				}
			}
			a.stopView()
			if err := a.finish(tr.Answer); err != nil {
				t.Fatal(err)
			}
			if err := printAnswerSources(&out, tr, a.streamed()); err != nil {
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
	if err := printAnswerSources(&out, partial, false); err != nil {
		t.Fatal(err)
	}
	if want := "From the rest.\n\nPartial answer: it rests on the evidence there was; these steps failed:\n  :evidence1: = DuckDuckGo[x] blocked: search engine blocked the request\n"; out.String() != want {
		t.Errorf("partial: %q, want %q", out.String(), want)
	}
}
