package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/research"
	"github.com/rewoo-agent/agent/research/queue"
)

// shouter stands in for the planner: it answers a question in capitals.
type shouter struct{}

func (shouter) Ask(_ context.Context, q string) (*planner.Trace, error) {
	return &planner.Trace{Answer: &planner.Answer{Text: strings.ToUpper(q)}}, nil
}

// A job file parsed, submitted twice to a SQLite queue, and answered by a worker.
func Example() {
	dir, _ := os.MkdirTemp("", "queue")
	defer os.RemoveAll(dir)
	job, err := queue.ParseJob("job.yaml", []byte(`id: shout
questions:
  list: ["who?", {id: w, question: "what?"}]
limits: {timeout: 1m}
`), dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	q, err := queue.Open(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	for range 2 {
		s, err := q.Submit(ctx, job)
		fmt.Println(s.Added, "added", s.Already, "there before", err)
	}
	w := &queue.Worker{Queue: q, UntilDone: "shout", Poll: 10 * time.Millisecond,
		Open: func(context.Context, *queue.StoredJob) (research.Asker, func(), error) { return shouter{}, nil, nil }}
	if err := w.Run(ctx); err != nil {
		fmt.Println(err)
		return
	}
	s, res, _ := q.Summarize(ctx, "shout")
	for _, r := range res {
		fmt.Println(r.Record.ID, r.Record.Status, r.Record.Answer)
	}
	fmt.Println(s.OK, "ok,", s.Failed, "failed")
	// Output:
	// 2 added 0 there before <nil>
	// 0 added 2 there before <nil>
	// 1 ok WHO?
	// w ok WHAT?
	// 2 ok, 0 failed
}

// Every problem of a job file, at its place.
func ExampleParseJob() {
	_, err := queue.ParseJob("job.yaml", []byte("id: x y\nquestions:\n  list: [\"a?\"]\n  file: q.txt\n"), "")
	fmt.Println(err)
	// Output:
	// job.yaml:1:5: id "x y": want letters, digits, . _ - (at most 128), starting with a letter or digit
	// job.yaml:3:3: questions: give exactly one of list:, file:, or template: with table:
}
