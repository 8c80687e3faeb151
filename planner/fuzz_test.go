package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// FuzzAskRecovers has the model write any first plan and any plan after it
// (the repair and the replans): whatever they are, Ask ends, with an answer
// or an error, and its trace says why it stopped; a partial answer lists what
// failed. Seeded from planparser's plans, good and bad.
func FuzzAskRecovers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "planparser", "testdata", "*.plan"))
	for i, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		next, _ := os.ReadFile(files[(i+1)%len(files)])
		f.Add(string(data), string(next))
	}
	f.Add(" :evidence0: = DuckDuckGo[a]\n:evidence1: = Broken[:evidence0:]\nAnswer: :evidence1:\n",
		" :evidence2: = TextScraper[:evidence0:]\nAnswer: :evidence2:\n")
	f.Fuzz(func(t *testing.T, first, next string) {
		p, _, _ := scripted(t, []plannertest.Reply{{Match: repairMark, Text: next}, {Match: replanMark, Text: next}, {Text: first}})
		p.Replans, p.MaxPlanTokens = 2, 256
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr, err := p.Ask(ctx, "Who won?", nil)
		if ctx.Err() != nil {
			t.Fatalf("Ask ran for 10 s (a hang?): %v", err)
		}
		if tr == nil || tr.Stop == "" {
			t.Fatalf("trace %+v without a stop reason", tr)
		}
		switch {
		case err == nil && tr.Answer == nil:
			t.Fatalf("no error and no answer; stop %q", tr.Stop)
		case err != nil && tr.Answer != nil:
			t.Fatalf("an answer and an error: %v", err)
		case err != nil && !errors.Is(err, ErrBadPlan) && !errors.Is(err, ErrAnswer) && !strings.Contains(err.Error(), "plan"):
			t.Fatalf("unexpected error %v", err)
		}
		if tr.Partial && len(tr.Failures) == 0 {
			t.Fatal("a partial answer that names no failure")
		}
		if tr.Replans > 2 {
			t.Fatalf("%d replans past the limit of 2", tr.Replans)
		}
	})
}
