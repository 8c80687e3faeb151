package planner

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// TestAnswerStreams: the answer's text arrives as AnswerText events while the
// knowledge model writes it, both for a KnowledgeModel step the Answer line
// cites whole and for the answer over all evidence; other engine calls (the
// plan, a step the answer does not cite whole) do not stream.
func TestAnswerStreams(t *testing.T) {
	tests := []struct {
		name, plan string
		streams    bool
	}{
		{"cited whole", " :evidence0: = Slow[Nobel 2020]\n:evidence1: = KnowledgeModel[Who won, given :evidence0:?]\nAnswer: :evidence1:\n", true},
		{"over all evidence", " :evidence0: = Slow[Nobel 2020]\nAnswer: there is no citation\n", true},
		{"cited within text", " :evidence0: = Slow[Nobel 2020]\n:evidence1: = KnowledgeModel[Who won, given :evidence0:?]\nAnswer: It is :evidence1:\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				eng := &plannertest.Engine{Replies: []plannertest.Reply{{Match: "BEGININSTRUCTION", Text: " Louise Glück won it."}, {Text: tt.plan}}}
				llm := Recorded(eng)
				reg, err := tools.NewRegistry(&tooltest.Slow{ToolName: "Slow", Delay: time.Second}, &knowledge.Model{LLM: llm})
				if err != nil {
					t.Fatal(err)
				}
				var streamed strings.Builder
				pieces := 0
				tr, err := (&Planner{LLM: llm, Tools: reg}).Ask(context.Background(), "Who won?", func(e Event) {
					if e.Kind == AnswerText {
						streamed.WriteString(e.Text)
						pieces++
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if !tt.streams {
					if pieces != 0 {
						t.Errorf("streamed %q", streamed.String())
					}
					return
				}
				if pieces < 2 || strings.TrimSpace(streamed.String()) != tr.Answer.Text {
					t.Errorf("streamed %q in %d pieces, answer %q", streamed.String(), pieces, tr.Answer.Text)
				}
			})
		})
	}
}
