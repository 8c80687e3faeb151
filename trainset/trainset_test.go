package trainset

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/world"
)

// smallWorld is world 3 of 100 people and the corpus of its documents.
func smallWorld(t *testing.T) (*world.World, *corpus.Corpus) {
	t.Helper()
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
	t.Cleanup(func() { c.Close() })
	return w, c
}

func TestExamples(t *testing.T) {
	w, c := smallWorld(t)
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

// TestExamplesInPlanOrder: a question's KnowledgeModel examples follow its plan's
// steps, whatever order the steps ran in, so a world's examples are the same file
// on every run.
func TestExamplesInPlanOrder(t *testing.T) {
	w, c := smallWorld(t)
	opts := Options{ContextLength: ContextLength, MaxTokens: AnswerTokens}
	checked := 0
	for _, q := range w.Questions(world.Test) {
		steps, err := GoldPlan(w, q)
		if err != nil {
			t.Fatal(err)
		}
		var want []string // the KnowledgeModel steps' answers, in plan order
		for _, s := range steps {
			if s.Tool == KnowledgeTool {
				want = append(want, " "+s.Answer)
			}
		}
		var first []Example
		for run := range 3 {
			exs, err := Examples(context.Background(), w, c, q, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range exs {
				if e.Kind == "knowledge" {
					got = append(got, e.Completion)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: knowledge completions %q, want the steps' %q", q.ID, got, want)
			}
			if run == 0 {
				first = exs
			} else if !slices.Equal(exs, first) {
				t.Fatalf("%s: run %d gave other examples than run 0", q.ID, run)
			}
		}
		checked += len(want)
	}
	if checked < 50 {
		t.Errorf("only %d steps checked", checked)
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

// TestGoldPlanCompares: a comparison ends with a Calculator step over its two
// branches, whose operator is the question's word and whose value, computed over
// the gold answers, is the question's answer.
func TestGoldPlanCompares(t *testing.T) {
	w, err := world.Generate(1, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"test-0002": `:evidence1: < :evidence3: ? "Cael Varstead" : "Tobin Harllund"`,        // Who was born earlier, ...?
		"test-0003": `":evidence3:" == ":evidence7:" ? "yes" : "no"`,                         // Were the directors ... born in the same city?
		"test-0011": `:evidence3: < :evidence7: ? "A Citadel for Talia" : "The Lost Meadow"`, // Which novel's author was born earlier, ...?
	}
	kinds := map[string]int{}
	for _, q := range w.Questions("") {
		steps, err := GoldPlan(w, q)
		if err != nil {
			t.Fatal(err)
		}
		last := steps[len(steps)-1]
		if (last.Tool == CalculatorTool) != (q.Type == world.Comparison || q.Type == world.BridgeComparison) {
			t.Fatalf("%s (%s) ends with %s", q.ID, q.Type, last.Tool)
		}
		if w, ok := want[q.ID]; ok && last.Input != w {
			t.Errorf("%s: Calculator[%s], want Calculator[%s]", q.ID, last.Input, w)
		}
		switch {
		case last.Tool != CalculatorTool:
		case strings.Contains(q.Question, "the publisher of"):
			// Named by the branches' first answers, as the question names them.
			if !strings.HasSuffix(last.Input, `? ":evidence1:" : ":evidence5:"`) {
				t.Errorf("%s %q: Calculator[%s]", q.ID, q.Question, last.Input)
			}
			kinds["publisher"]++
		case strings.Contains(q.Question, " later, "):
			kinds[">"] += strings.Count(last.Input, " > ")
		case strings.Contains(q.Question, " earlier, "):
			kinds["<"] += strings.Count(last.Input, " < ")
		default:
			kinds["=="] += strings.Count(last.Input, " == ")
		}
	}
	for _, k := range []string{"publisher", "<", ">", "=="} {
		if kinds[k] == 0 {
			t.Errorf("no comparison of kind %s in the world: %v", k, kinds)
		}
	}
}
