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
	for _, st := range second.Steps {
		if st.Tool == "DuckDuckGo" && !st.Reused {
			t.Errorf("the second question searched again: %+v", st)
		}
	}
}

// TestChatEnds: the end of input ends the conversation; a question without an
// answer is reported and the next one still runs, and the exit status says so.
func TestChatEnds(t *testing.T) {
	e := newAskEnv(t, searchPlan, 0)
	if out, errOut, code := runAgent(t, "", "chat", "--llm-url", e.llm.URL); code != 0 || out != "" {
		t.Errorf("no input: exit %d, stdout %q\n%s", code, out, errOut)
	}
	e.eng.Replies = append([]plannertest.Reply{{Match: "Question: broken? ASSISTANT", Text: " :evidence0: = Nope[x]\nAnswer: :evidence0:\n"}}, e.eng.Replies...)
	out, errOut, code := runAgent(t, "broken?\nWho won?", "chat", "--llm-url", e.llm.URL, "--repair=false")
	if code != 1 || !strings.Contains(errOut, "1 of 2 questions had no answer") || !strings.Contains(out, "Louise Glück") {
		t.Errorf("exit %d, stdout %q\n%s", code, out, errOut)
	}
}
