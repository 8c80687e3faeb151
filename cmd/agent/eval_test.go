package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// TestEval runs the MuSiQue sample through agent eval with a scripted model: the
// plan searches the set's paragraphs, served as the corpus, and KnowledgeModel
// answers over them.
func TestEval(t *testing.T) {
	cleanEnv(t)
	eng := &plannertest.Engine{Replies: []plannertest.Reply{
		{Match: "Its capital is Buenos Aires", Text: " Buenos Aires"},
		{Match: "BEGININSTRUCTION", Text: " I do not know"},
		{Text: " Plan: Search.\n:evidence0: = LocalSearch[capital of Argentina]\n" +
			"Plan: Answer.\n:evidence1: = KnowledgeModel[What is the capital? Given :evidence0:]\nAnswer: :evidence1:"},
	}}
	srv := eng.NewServer()
	defer srv.Close()
	set := filepath.Join("..", "..", "eval", "testdata", "musique.jsonl")
	out, errOut, code := runAgent(t, "", "eval", "--llm-url", srv.URL, "--json", set)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var rep struct {
		Questions []struct {
			Prediction string `json:"prediction"`
		} `json:"questions"`
		Totals struct {
			Questions  int     `json:"questions"`
			ExactMatch float64 `json:"exact_match"`
			F1         float64 `json:"f1"`
			ValidPlans float64 `json:"valid_plans"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if tot := rep.Totals; tot.Questions != 1 || tot.ExactMatch != 1 || tot.F1 != 1 || tot.ValidPlans != 1 {
		t.Errorf("totals %+v, predictions %+v\n%s", tot, rep.Questions, errOut)
	}

	out, _, code = runAgent(t, "", "eval", "--llm-url", srv.URL, set)
	if code != 0 || !strings.Contains(out, "total (1)") || !strings.Contains(out, "100.0%") {
		t.Errorf("table (exit %d):\n%s", code, out)
	}
	if _, _, code := runAgent(t, "", "eval", "--limit", "-1", set); code != 2 {
		t.Errorf("--limit -1: exit %d, want 2", code)
	}
	if _, errOut, code := runAgent(t, "", "eval", "--llm-url", srv.URL, filepath.Join(t.TempDir(), "none.json")); code == 0 {
		t.Errorf("a missing set: exit 0 (%s)", errOut)
	}
}
