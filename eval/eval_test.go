package eval

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/world"
)

func TestMetrics(t *testing.T) {
	for _, c := range []struct {
		pred, gold string
		em, f1     float64
	}{
		{"The Eiffel Tower!", "eiffel tower", 1, 1},
		{"Paris", "London", 0, 0},
		{"the city of Paris", "Paris", 0, 2 * (1.0 / 3) * 1 / (1.0/3 + 1)},
		{"", "", 1, 1},
		{"", "yes", 0, 0},
		{"1971", " 1971 ", 1, 1},
		{"x b b", "b b c", 0, 2.0 / 3},
		{"a b b", "b b c", 0, 0.8}, // the article goes,
	} {
		if em := ExactMatch(c.pred, c.gold); em != c.em {
			t.Errorf("ExactMatch(%q, %q) = %v, want %v", c.pred, c.gold, em, c.em)
		}
		if f1 := F1(c.pred, c.gold); f1 < c.f1-1e-9 || f1 > c.f1+1e-9 {
			t.Errorf("F1(%q, %q) = %v, want %v", c.pred, c.gold, f1, c.f1)
		}
	}
}

func TestLoadFormats(t *testing.T) {
	for _, c := range []struct {
		file      string
		questions int
		docs      int
		answer    string
		docText   string
	}{
		{"hotpot_distractor.json", 2, 5, "yes", "Shirley Temple Black (April 23, 1928"},
		{"2wikimultihopqa.json", 1, 2, "Albert Einstein", "Danish physicist"},
		{"musique.jsonl", 1, 3, "Buenos Aires", "Its capital is Buenos Aires."},
	} {
		s, err := Load(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if len(s.Items) != c.questions || len(s.Docs) != c.docs || s.Items[0].Answer != c.answer {
			t.Errorf("%s: %d questions, %d docs, first answer %q", c.file, len(s.Items), len(s.Docs), s.Items[0].Answer)
		}
		dir := t.TempDir()
		if err := s.WriteCorpus(dir); err != nil {
			t.Fatal(err)
		}
		c2, err := OpenCorpus(dir)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c2.Search(context.Background(), c.docText)
		c2.Close()
		if err != nil || len(res) == 0 {
			t.Errorf("%s: searching the corpus for %q: %v, %d results", c.file, c.docText, err, len(res))
		}
	}
}

func TestOpenWorldFile(t *testing.T) {
	w, err := world.Generate(2, 100)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := w.Write(dir); err != nil {
		t.Fatal(err)
	}
	s, corpusDir, err := Open(filepath.Join(dir, "test.jsonl"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if corpusDir != filepath.Join(dir, "docs") || len(s.Items) != len(w.Questions(world.Test)) {
		t.Errorf("corpus %s, %d questions", corpusDir, len(s.Items))
	}
	lone := filepath.Join(t.TempDir(), "q.jsonl")
	data, _ := os.ReadFile(filepath.Join(dir, "test.jsonl"))
	os.WriteFile(lone, data, 0o644)
	if _, _, err := Open(lone, t.TempDir()); !errors.Is(err, ErrFormat) {
		t.Errorf("a question file with no docs beside it: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "[", `[{"_id":"x","question":"q?","answer":""}]`,
		`[{"_id":"x","question":"q?","answer":"a","context":[["t"]]}]`,
		`{"id":"m","question":"q?","answer":"a","paragraphs":[]}` + "\n{",
		`{"id":"w"}`, "not json"} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"hotpot_distractor.json", "2wikimultihopqa.json", "musique.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id":"a","question":"q","answer":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		for _, it := range s.Items {
			if it.ID == "" || strings.TrimSpace(it.Question) == "" || strings.TrimSpace(it.Answer) == "" {
				t.Fatalf("item without id, question or answer: %+v", it)
			}
		}
		urls := map[string]bool{}
		for _, d := range s.Docs {
			if urls[d.URL] || !strings.HasPrefix(d.URL, "doc://") {
				t.Fatalf("bad or repeated URL %q", d.URL)
			}
			urls[d.URL] = true
		}
	})
}

// TestRun scores a scripted asker: answers right, wrong, a bad plan and an error.
func TestRun(t *testing.T) {
	items := []Item{{"1", "q1", "Paris"}, {"2", "q2", "1971"}, {"3", "q3", "yes"}, {"4", "q4", "no"}}
	ask := func(_ context.Context, q string) (*planner.Trace, error) {
		switch q {
		case "q1":
			return &planner.Trace{Answer: &planner.Answer{Text: "paris."}, EngineCalls: []planner.EngineCall{{Tokens: 10, PromptTokens: 100}, {Tokens: 2}},
				Steps:   []*planner.StepTrace{{Name: ":evidence0:", Duration: 1.5}, {Name: ":evidence1:", Duration: 0.5}},
				Timings: planner.Timings{PlanStart: 0, PlanDone: 2, CriticalPath: []string{":evidence0:"}}}, nil
		case "q2":
			return &planner.Trace{Answer: &planner.Answer{Text: "in 1972"}}, nil
		case "q3":
			return &planner.Trace{}, planner.ErrBadPlan
		}
		return nil, errors.New("engine down")
	}
	rep, err := Run(context.Background(), "s", items, ask, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Questions[0]
	if q.ExactMatch != 1 || q.EngineCalls != 2 || q.Tokens != 12 || q.Prompt != 100 || q.PlanS != 2 || q.CriticalS != 1.5 || q.Steps != 2 {
		t.Errorf("first result %+v", q)
	}
	tot := rep.Totals
	if tot.Questions != 4 || tot.ExactMatch != 0.25 || tot.ValidPlans != 0.5 || tot.Errors != 2 || tot.F1 != 0.25 {
		t.Errorf("totals %+v", tot)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "total (4)") || !strings.Contains(b.String(), "25.0%") {
		t.Errorf("table:\n%s (%v)", b.String(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err = Run(ctx, "s", items, ask, nil)
	if !errors.Is(err, context.Canceled) || len(rep.Questions) != 0 {
		t.Errorf("cancelled run: %v, %d results", err, len(rep.Questions))
	}
}

func TestSetShard(t *testing.T) {
	s := &Set{Items: []Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	tests := []struct {
		offset, limit int
		want          string
	}{
		{0, 0, "abc"}, {1, 0, "bc"}, {1, 1, "b"}, {0, 5, "abc"}, {3, 0, ""}, {9, 2, ""}, {-1, 2, "ab"},
	}
	for _, tt := range tests {
		got := ""
		for _, it := range s.Shard(tt.offset, tt.limit) {
			got += it.ID
		}
		if got != tt.want {
			t.Errorf("Shard(%d, %d) = %q, want %q", tt.offset, tt.limit, got, tt.want)
		}
	}
}
