package trainset

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strconv"
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

// TestCompareDrills: each drill is the comparing step alone, over the years its
// prompt gives, answered by the rule (for the questions that name their answers: the
// first name when its year wins), and a question that compares no years gives none.
func TestCompareDrills(t *testing.T) {
	w, c := smallWorld(t)
	opts := Options{ContextLength: ContextLength, MaxTokens: AnswerTokens}
	r := rand.New(rand.NewPCG(1, 2))
	years := regexp.MustCompile(`ENDCONTEXT\n(\d{4})\nENDINPUT`)
	names := regexp.MustCompile(`(?:earlier|later), (.+) or (.+)\?$`)
	drilled, ruled, none := 0, 0, 0
	for _, q := range w.Questions("") {
		exs, err := CompareDrills(context.Background(), w, c, q, 3, r, opts)
		if err != nil {
			t.Fatal(err)
		}
		ordered := strings.Contains(q.Question, " earlier, ") || strings.Contains(q.Question, " later, ")
		if !ordered {
			none++
			if len(exs) != 0 {
				t.Errorf("%s %q: %d drills", q.ID, q.Question, len(exs))
			}
			continue
		}
		if len(exs) != 3 {
			t.Fatalf("%s %q: %d drills, want 3", q.ID, q.Question, len(exs))
		}
		for _, e := range exs {
			drilled++
			ys := years.FindAllStringSubmatch(e.Prompt, -1)
			if e.Kind != "knowledge" || len(ys) != 2 || !strings.Contains(e.Prompt, "the first input and the second input") {
				t.Fatalf("%s: drill %q / %q", q.ID, e.Prompt, e.Completion)
			}
			if drilled <= 12 {
				// The prompt written into is the prompt of that counterfactual's own plan.
				ya, _ := strconv.Atoi(ys[0][1])
				yb, _ := strconv.Atoi(ys[1][1])
				word := map[bool]string{true: "earlier", false: "later"}[strings.Contains(e.Question, " earlier, ")]
				cq, _ := w.Counterfactual(q, ya, yb, word)
				direct, err := Examples(context.Background(), w, c, cq, opts)
				if err != nil {
					t.Fatal(err)
				}
				if last := direct[len(direct)-1]; last.Prompt != e.Prompt || last.Completion != e.Completion {
					t.Errorf("%s: drill %q / %q, its plan's step %q / %q", q.ID, e.Prompt, e.Completion, last.Prompt, last.Completion)
				}
			}
			m := names.FindStringSubmatch(e.Question)
			if m == nil || strings.HasPrefix(m[1], "the publisher of ") {
				continue // answered by a name the question does not give
			}
			ruled++
			first := (ys[0][1] < ys[1][1]) == strings.Contains(e.Question, " earlier, ")
			want := map[bool]string{true: m[1], false: m[2]}[first]
			if e.Completion != " "+want {
				t.Errorf("%q over %s and %s: %q, want %q", e.Question, ys[0][1], ys[1][1], e.Completion, want)
			}
		}
	}
	if ruled < 20 || drilled == ruled || none == 0 {
		t.Errorf("%d drills, %d checked by the rule, %d questions without", drilled, ruled, none)
	}
	var buf bytes.Buffer
	n, err := ExportDrills(context.Background(), w, c, w.Questions(""), 3, rand.New(rand.NewPCG(1, 2)), opts, &buf)
	if err != nil || n != drilled || strings.Count(buf.String(), "\n") != drilled {
		t.Errorf("ExportDrills wrote %d (%d lines), %v; CompareDrills gave %d", n, strings.Count(buf.String(), "\n"), err, drilled)
	}
}
