package research

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// questionFiles are question files and what reading them gives: the questions,
// or the problems.
var questionFiles = []struct {
	name, content string
	want          []Question
	err           []string
}{
	{name: "lines", content: "Who?\n\n  \r\nWhat? \r\n", want: []Question{{"1", "Who?", "in", 1}, {"4", "What?", "in", 4}}},
	{name: "jsonl", content: "\n" + `{"id": "a", "question": " Who? "}` + "\n" + `{"id": 17, "question": "What?", "gold": "x"}`,
		want: []Question{{"a", "Who?", "in", 2}, {"17", "What?", "in", 3}}},
	// A byte order mark (Windows editors write one) is not part of the first line:
	// with it, a JSONL file was read as lines, each object a question.
	{name: "BOM before jsonl", content: "\ufeff" + `{"id": "a", "question": "Who?"}` + "\n", want: []Question{{"a", "Who?", "in", 1}}},
	{name: "BOM before lines", content: "\ufeffWho?\n", want: []Question{{"1", "Who?", "in", 1}}},
	{name: "invalid UTF-8", content: "Wh\xffo?\n", want: []Question{{"1", "Wh\uFFFDo?", "in", 1}}},
	{name: "malformed jsonl", content: `{"id": "a", "question": "Who?"}` + "\nWhat?\n" + `{"question": "q"}` + "\n" +
		`{"id": "b"}` + "\n" + `{"id": true, "question": "q"}` + "\n" + `{"id": " ", "question": "q"}` + "\n" + `["a"]` + "\n",
		err: []string{"in:2: not a JSON object: invalid character 'W'", `in:3: no "id"`, `in:4: no "question"`,
			`in:5: "id" is true: want a string or a number`, `in:6: the "id" is empty`, "in:7: not a JSON object: json: cannot unmarshal array"}},
	{name: "duplicate ids", content: `{"id": "a", "question": "Who?"}` + "\n" + `{"id": "b", "question": "What?"}` + "\n" + `{"id": "a", "question": "Why?"}` + "\n",
		err: []string{`in:3: id "a" repeats line 1`}},
	{name: "duplicate number and string id", content: `{"id": 1, "question": "Who?"}` + "\n" + `{"id": "1", "question": "What?"}` + "\n",
		err: []string{`in:2: id "1" repeats line 1`}},
	{name: "empty", content: "\n \n", err: []string{"in has no questions"}},
	{name: "long line", content: "Who?\n" + strings.Repeat("x", MaxQuestionLine+1) + "\n", err: []string{"in:2: the line is longer than 1048576 bytes"}},
}

func TestReadQuestions(t *testing.T) {
	for _, tt := range questionFiles {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadQuestions(strings.NewReader(tt.content), "in")
			if tt.err != nil {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				for _, e := range tt.err {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error lacks %q:\n%v", e, err)
					}
				}
				var qe *QuestionsError
				if errors.As(err, &qe) && len(qe.Problems) != len(tt.err) {
					t.Errorf("%d problems reported, want %d:\n%v", len(qe.Problems), len(tt.err), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestQuestionsErrorShowsTwenty(t *testing.T) {
	_, err := ReadQuestions(strings.NewReader(strings.Repeat("{\n", 25)), "in")
	var qe *QuestionsError
	if !errors.As(err, &qe) || len(qe.Problems) != 25 {
		t.Fatalf("error %v, want 25 problems", err)
	}
	if msg := err.Error(); strings.Count(msg, "\nin:") != 20 || !strings.HasSuffix(msg, "\nand 5 more problems") {
		t.Errorf("message:\n%s", msg)
	}
}

// FuzzReadQuestions checks any input gives questions with unique ids and
// non-empty, valid text, or an error, never a panic.
func FuzzReadQuestions(f *testing.F) {
	for _, tt := range questionFiles {
		if len(tt.content) < 4096 {
			f.Add(tt.content)
		}
	}
	files, _ := filepath.Glob("testdata/journal/*.jsonl") // journals are questions too, with ids
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, content string) {
		qs, err := ReadQuestions(strings.NewReader(content), "in")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, q := range qs {
			if seen[q.ID] || strings.TrimSpace(q.ID) == "" || strings.TrimSpace(q.Text) == "" || !utf8.ValidString(q.Text) || q.Line < 1 {
				t.Fatalf("bad question %+v from %q", q, content)
			}
			seen[q.ID] = true
		}
	})
}
