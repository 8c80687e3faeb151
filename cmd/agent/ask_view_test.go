package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

// viewEvents is a short run: a two-step plan streamed in pieces, one step done,
// one failed.
func viewEvents() []planner.Event {
	s0 := planner.StepTrace{Name: ":evidence0:", Tool: "DuckDuckGo", Input: "x", Line: 2, State: planner.StatePending}
	s1 := planner.StepTrace{Name: ":evidence1:", Tool: "TextScraper", Input: ":evidence0:", Line: 3, State: planner.StatePending}
	run0, done0 := s0, s0
	run0.State, run0.Start, run0.ResolvedInput = planner.StateRunning, 0.1, "x"
	done0.State, done0.Duration, done0.Output, done0.Sources = planner.StateDone, 1.25, "results", []string{"u"}
	fail1 := s1
	fail1.State, fail1.Duration, fail1.Error = planner.StateFailed, 0.5, "fetch refused"
	plan := " Plan: search\n:evidence0: = DuckDuckGo[x]\n:evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:"
	return []planner.Event{
		{Kind: planner.PlanText, Text: plan[:20]},
		{Kind: planner.PlanText, Text: plan[20:44]},
		{Kind: planner.StepParsed, Step: s0},
		{Kind: planner.StepStarted, Step: run0, Attempt: 1},
		{Kind: planner.PlanText, Text: plan[44:]},
		{Kind: planner.StepParsed, Step: s1},
		{Kind: planner.StepFinished, Step: done0},
		{Kind: planner.StepFailed, Step: fail1, Err: errors.New("fetch refused")},
		{Kind: planner.PlanDone, Text: plan, At: time.Second},
	}
}

func TestPlainView(t *testing.T) {
	var b bytes.Buffer
	v := newAskProgress(&b, false)
	for _, e := range viewEvents() {
		v.event(e)
	}
	v.stop()
	want := []string{
		"plan   Plan: search",
		"plan  :evidence0: = DuckDuckGo[x]",
		"run   :evidence0: DuckDuckGo[x]",
		"plan  :evidence1: = TextScraper[:evidence0:]",
		"done  :evidence0: in 1.25s: 7 bytes, 1 sources",
		"fail  :evidence1: after 0.50s: fetch refused",
		"plan  Answer: :evidence1:",
		"plan complete",
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), b.String())
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %q, want it to end %q", i, lines[i], w)
		}
	}
	var quiet bytes.Buffer
	q := newAskProgress(&quiet, true)
	q.event(viewEvents()[0])
	q.stop()
	if quiet.Len() != 0 {
		t.Errorf("quiet progress wrote %q", quiet.String())
	}
}

func TestLiveView(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NO_COLOR", "1")
	v := newAskLiveView(w) // a pipe is no terminal: it draws 80 columns
	for _, e := range viewEvents() {
		v.event(e)
	}
	v.stop()
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// The last frame follows the last "clear to the end of the screen".
	frames := strings.Split(string(out), "\x1b[J")
	last := frames[len(frames)-1]
	want := "            Plan: search\n" +
		"✓    1.2s  :evidence0: = DuckDuckGo[x]\n" +
		"✗    0.5s  :evidence1: = TextScraper[:evidence0:]  (fetch refused)\n" +
		"           Answer: :evidence1:\n"
	if last != want {
		t.Errorf("last frame:\n%q\nwant:\n%q", last, want)
	}
	if !strings.Contains(string(out), "\x1b[4A") {
		t.Error("frames do not redraw in place")
	}
}
