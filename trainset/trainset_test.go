package trainset

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/world"
)

func TestExamples(t *testing.T) {
	w, err := world.Generate(3, 100)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := w.WriteDocuments(dir); err != nil {
		t.Fatal(err)
	}
	c, err := corpus.Open(dir, corpus.Options{MaxResults: SearchResults})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	qs := w.Questions(world.Test)
	n, err := Export(context.Background(), w, c, qs, Options{ContextLength: ContextLength, MaxTokens: AnswerTokens}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e Example
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		kinds[e.Kind]++
		if e.Split != world.Test || !strings.HasSuffix(e.Prompt, "ASSISTANT:") || !strings.HasPrefix(e.Completion, " ") {
			t.Errorf("bad example %+v", e)
		}
		if e.Kind == "knowledge" && !strings.Contains(e.Prompt, "BEGININPUT") {
			t.Errorf("knowledge prompt without evidence: %q", e.Prompt)
		}
		if e.Kind == "plan" && !strings.Contains(e.Prompt, "Question: "+e.Question) {
			t.Errorf("plan prompt without its question: %q", e.Prompt)
		}
	}
	if kinds["plan"] != 2*len(qs) || kinds["knowledge"] < 2*len(qs) || n != kinds["plan"]+kinds["knowledge"] {
		t.Errorf("%d questions gave %v (%d written)", len(qs), kinds, n)
	}
}

func TestGoldPlan(t *testing.T) {
	w, err := world.Generate(1, 100)
	if err != nil {
		t.Fatal(err)
	}
	q := w.Questions(world.Test)[0] // Who founded the company that published A Signal for Calla?
	steps, err := GoldPlan(w, q)
	if err != nil {
		t.Fatal(err)
	}
	want := "Plan: Search for A Signal for Calla.\n" +
		":evidence0: = LocalSearch[A Signal for Calla]\n" +
		"Plan: Find out from the results: Who published A Signal for Calla?\n" +
		":evidence1: = KnowledgeModel[Who published A Signal for Calla? Given :evidence0:]\n" +
		"Plan: Search for the answer of :evidence1:.\n" +
		":evidence2: = LocalSearch[:evidence1:]\n" +
		"Plan: Find out from the results: Who founded :evidence1:?\n" +
		":evidence3: = KnowledgeModel[Who founded :evidence1:? Given :evidence2:]\n" +
		"Answer: :evidence3:"
	if got := Text(steps); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if _, err := GoldPlan(w, world.Question{ID: "x"}); err == nil {
		t.Error("a question without supporting facts got a plan")
	}
}
