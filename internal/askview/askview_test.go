package askview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/internal/termtext"
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
	v := New(&b, false)
	for _, e := range viewEvents() {
		v.Event(e)
	}
	v.Stop()
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
	q := New(&quiet, true)
	q.Event(viewEvents()[0])
	q.Stop()
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
	v := NewLive(w) // a pipe is no terminal: it draws 80 columns
	for _, e := range viewEvents() {
		v.Event(e)
	}
	v.Stop()
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

// tallPlan is a plan of n steps, each on its line, all done but the last, which
// failed with a long reason.
func tallPlan(n int) []planner.Event {
	var plan strings.Builder
	var events []planner.Event
	for i := range n {
		fmt.Fprintf(&plan, ":evidence%d: = DuckDuckGo[query %d\twith a tab and 東京]\n", i, i)
	}
	events = append(events, planner.Event{Kind: planner.PlanText, Text: plan.String()})
	for i := range n {
		s := planner.StepTrace{Name: fmt.Sprintf(":evidence%d:", i), Tool: "DuckDuckGo", Line: i + 1, State: planner.StateDone, Duration: 0.5}
		if i == n-1 {
			s.State, s.Error = planner.StateFailed, "search engine blocked the request: "+strings.Repeat("the whole reason ", 10)+"END"
		}
		events = append(events, planner.Event{Kind: planner.StepFinished, Step: s})
	}
	return append(events, planner.Event{Kind: planner.PlanDone, Text: plan.String()})
}

// TestLiveViewStaysOnScreen: a plan taller than the terminal is drawn as its last
// lines, each within the width, so redrawing moves the cursor up no more rows
// than the screen has and never scrolls.
func TestLiveViewStaysOnScreen(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NO_COLOR", "1")
	var out []byte
	read := make(chan struct{})
	go func() { out, _ = io.ReadAll(r); close(read) }()
	v := NewLive(w) // a pipe: 80×24
	for _, e := range tallPlan(60) {
		v.Event(e)
	}
	v.Stop()
	w.Close()
	<-read
	for _, up := range regexp.MustCompile(`\x1b\[(\d+)A`).FindAllStringSubmatch(string(out), -1) {
		if n, _ := strconv.Atoi(up[1]); n > 23 {
			t.Fatalf("the view moves up %d rows on a 24-row terminal", n)
		}
	}
	frames := strings.Split(string(out), "\x1b[J")
	last := frames[len(frames)-1]
	lines := strings.Split(strings.TrimSuffix(last, "\n"), "\n")
	frame := lines
	if len(frame) != 23 {
		t.Fatalf("last frame has %d lines, want 23:\n%s", len(frame), last)
	}
	if !strings.Contains(frame[22], ":evidence59:") {
		t.Errorf("the frame does not end with the plan's last line: %q", frame[22])
	}
	for _, l := range frame {
		cols := 0
		for _, r := range l {
			cols += termtext.RuneWidth(r)
		}
		if cols > 79 || strings.ContainsRune(l, '\t') {
			t.Errorf("line of %d columns (or with a tab) would wrap: %q", cols, l)
		}
	}
}

// TestPlainViewPlanBrokeOff: a plan whose writing broke off (an interrupt, a
// server's error) is not "complete".
func TestPlainViewPlanBrokeOff(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{context.Canceled, "plan  interrupted"},
		{errors.New("HTTP 500 Internal Server Error"), "plan  broke off: HTTP 500 Internal Server Error"},
	} {
		var b bytes.Buffer
		v := New(&b, false)
		v.Event(planner.Event{Kind: planner.PlanText, Text: ":evidence0: = A[x]\n"})
		v.Event(planner.Event{Kind: planner.PlanDone, Text: ":evidence0: = A[x]\n", Err: tt.err})
		v.Stop()
		if strings.Contains(b.String(), "plan complete") || !strings.Contains(b.String(), tt.want) {
			t.Errorf("after %v:\n%s\nwant %q and no \"plan complete\"", tt.err, b.String(), tt.want)
		}
	}
}
