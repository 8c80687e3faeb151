package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// TestChat: the second question's plan cites the first one's evidence by name;
// it is reused, not searched again, and the prompt recalls the first answer.
func TestChat(t *testing.T) {
	e := newAskEnv(t, searchPlan, 0)
	e.eng.Replies = append([]plannertest.Reply{{Match: "Earlier in this conversation",
		Text: " :evidence2: = TextScraper[:evidence0:]\nAnswer: :evidence2:\n"}}, e.eng.Replies...)
	out, errOut, code := runAgent(t, "Who won in 2020?\n\nWhat does the page say?\nexit\nnot asked\n", "chat", "--llm-url", e.llm.URL, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	type trace struct {
		Prompt string              `json:"prompt"`
		Steps  []planner.StepTrace `json:"steps"`
		Answer *planner.Answer     `json:"answer"`
	}
	var trs []trace
	for {
		var tr trace
		if err := dec.Decode(&tr); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		trs = append(trs, tr)
	}
	if len(trs) != 2 {
		t.Fatalf("%d traces, want 2 (exit ends the conversation)", len(trs))
	}
	second := trs[1]
	if len(second.Steps) == 0 || second.Steps[0].Name != ":evidence0:" || !second.Steps[0].Reused {
		t.Errorf("the first question's search is not reused: %+v", second.Steps)
	}
	if second.Answer == nil || !strings.Contains(second.Answer.Text, "went to Louise Glück") {
		t.Errorf("second answer %+v", second.Answer)
	}
	if !strings.Contains(second.Prompt, "Question: Who won in 2020?\nAnswer: Louise Glück won") {
		t.Errorf("the second prompt does not recall the first answer:\n%s", second.Prompt)
	}
	searches := 0
	for _, c := range e.eng.Calls() {
		if strings.Contains(c.Reply, "DuckDuckGo[") {
			searches++
		}
	}
	if searches != 1 {
		t.Errorf("%d plans searched, want 1", searches)
	}
}
