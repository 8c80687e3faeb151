package research_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/research"
)

// shouter stands in for the planner: it answers a question in capitals.
type shouter struct{}

func (shouter) Ask(_ context.Context, q string) (*planner.Trace, error) {
	if strings.Contains(q, "?") {
		return &planner.Trace{Answer: &planner.Answer{Text: strings.ToUpper(q)}}, nil
	}
	return nil, fmt.Errorf("%q is no question", q)
}

// A job over a journal: read the questions, open the journal (resuming what is
// there), plan, run.
func Example() {
	dir, _ := os.MkdirTemp("", "research")
	defer os.RemoveAll(dir)
	qs, err := research.ReadQuestions(strings.NewReader("who?\nwhat?\nnothing\n"), "questions.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	j, err := research.Open(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()
	plan, err := j.Plan(qs, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := &research.Runner{OnRecord: func(rec *research.Record, t research.Tally) {
		fmt.Printf("%d/%d %s %s: %s%s\n", t.Recorded, t.Total, rec.ID, rec.Status, rec.Answer, rec.Error)
	}}
	open := func(context.Context) (research.Asker, error) { return shouter{}, nil }
	s, err := r.Run(context.Background(), open, j, plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d ok, %d failed: %v\n", s.OK, s.NotOK(), s.Err())
	// Output:
	// 1/3 1 ok: WHO?
	// 2/3 2 ok: WHAT?
	// 3/3 3 failed: "nothing" is no question
	// 2 ok, 1 failed: some questions failed (their records say why)
}

// Questions as JSONL objects with ids; every problem comes with its line.
func ExampleReadQuestions() {
	qs, _ := research.ReadQuestions(strings.NewReader(`{"id": "q1", "question": "Who?"}`+"\n"+`{"id": 2, "question": "What?", "gold": "x"}`), "questions.jsonl")
	for _, q := range qs {
		fmt.Printf("%s:%d %s %s\n", q.File, q.Line, q.ID, q.Text)
	}
	_, err := research.ReadQuestions(strings.NewReader(`{"id": "q1", "question": "Who?"}`+"\n"+`{"question": "What?"}`), "questions.jsonl")
	fmt.Println(err)
	// Output:
	// questions.jsonl:1 q1 Who?
	// questions.jsonl:2 2 What?
	// the questions cannot be read:
	// questions.jsonl:2: no "id"
}
