package research

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

func TestWriteRecordLine(t *testing.T) {
	ok := &Record{ID: "q1", Status: StatusOK, Answer: "Louise\nGlück.", Tokens: Tokens{Prompt: 10, Generated: 5},
		Timings: planner.Timings{Total: 1.5}, Steps: []Step{{StepTrace: &planner.StepTrace{}}}}
	failed := &Record{ID: "q2", Status: StatusFailed, Error: "step :evidence0: failed\nsecond line",
		Steps: []Step{
			{StepTrace: &planner.StepTrace{Name: ":evidence0:", Tool: "A", Input: "x", State: planner.StateFailed, Error: "failed"}},
			{StepTrace: &planner.StepTrace{Name: ":evidence1:", Tool: "B", Input: "y", State: planner.StateSkipped, Error: "its input failed"}},
		}}
	tally := Tally{Total: 3, Recorded: 2}
	tests := []struct {
		name  string
		rec   *Record
		quiet bool
		want  string
	}{
		{"ok", ok, false, "[    2.5s] 2/3 ok       q1 (1.50s, 1 steps, 15 tokens): Louise Glück.\n"},
		{"ok quiet", ok, true, ""},
		{"failed quiet", failed, true, "[    2.5s] 2/3 failed   q2 (0.00s, 2 steps, 0 tokens):\n" +
			"    step :evidence0: failed\n    second line\n    step :evidence1: = B[y] skipped: its input failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			WriteRecordLine(&b, tt.rec, tally, 2500*time.Millisecond, tt.quiet)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestWriteReport(t *testing.T) {
	tests := []struct {
		name     string
		s        *Summary
		finished bool
		want     string
	}{
		{"all ok", &Summary{Plan: &Plan{Skipped: 1}, Tally: Tally{Total: 2, Recorded: 2, OK: 2, Tokens: Tokens{Prompt: 3, Generated: 4}}}, true,
			"batch: 2 of 2 run in 1.5s: 2 ok, 0 failed; 1 skipped; tokens: 3 prompt, 4 generated\n"},
		{"failures, stopped", &Summary{Plan: &Plan{Skipped: 2, SkippedFailed: 1}, Tally: Tally{Total: 5, Recorded: 2, Stopped: 1, OK: 1, Timeout: 1}}, true,
			"batch: 2 of 5 run in 1.5s: 1 ok, 1 failed (0 bad_plan, 1 timeout, 0 partial, 0 blocked); 2 skipped (1 of them failed before; --retry-failed runs them again); tokens: 0 prompt, 0 generated\n" +
				"3 questions have no record (1 stopped while running, 2 not started); run the same command again to answer them\n"},
		{"not finished", &Summary{Plan: &Plan{}, Tally: Tally{Total: 5}}, false,
			"batch: 0 of 5 run in 1.5s: 0 ok, 0 failed; 0 skipped; tokens: 0 prompt, 0 generated\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tt.s.WriteReport(&b, 1500*time.Millisecond, tt.finished)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestReadQuestionsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.txt")
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	qs, err := ReadQuestionsFile(context.Background(), nil, path)
	if err != nil || len(qs) != 2 || qs[1].Text != "two" {
		t.Fatalf("file: %+v, %v", qs, err)
	}
	qs, err = ReadQuestionsFile(context.Background(), strings.NewReader("three\n"), "-")
	if err != nil || len(qs) != 1 || qs[0].Text != "three" {
		t.Fatalf("stdin: %+v, %v", qs, err)
	}
	if _, err := ReadQuestionsFile(context.Background(), nil, filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file reads")
	}
}

func TestOpenForRefusesTheQuestions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.jsonl")
	if err := os.WriteFile(path, []byte("{\"id\":\"a\",\"question\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if j, err := OpenFor(path, path); err == nil || !strings.Contains(err.Error(), "both the questions and the output") {
		if j != nil {
			j.Close()
		}
		t.Fatalf("OpenFor(q, q) = %v", err)
	}
	j, err := OpenFor("-", filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
}
