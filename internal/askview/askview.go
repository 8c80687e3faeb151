// Package askview shows an ask run as its planner events arrive: one plain line
// per happening for logs and pipes, or, on a terminal, a live view that redraws
// the plan with each step's state and time in place, within the screen; it
// asks the person there before a tool marked confirm runs (Approver).
package askview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rewoo-agent/agent/internal/termtext"
	"github.com/rewoo-agent/agent/planner"
)

// Progress shows an ask run as its events arrive.
type Progress interface {
	Event(planner.Event)
	// Hold clears the display and stops drawing until release is called (a
	// question to the person at the terminal); events meanwhile are kept.
	Hold() (release func())
	// Stop ends the display; no event may follow.
	Stop()
}

// New picks the live view when w is a terminal and plain lines otherwise.
func New(w io.Writer, quiet bool) Progress {
	if quiet {
		return silent{}
	}
	if IsTerminal(w) {
		return NewLive(w.(*os.File))
	}
	return &Plain{w: w}
}

// IsTerminal reports whether w is a terminal, where progress may redraw itself.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type silent struct{}

func (silent) Event(planner.Event) {}
func (silent) Hold() func()        { return func() {} }
func (silent) Stop()               {}

// Plain writes one line per happening, for logs and pipes.
type Plain struct {
	mu      sync.Mutex
	w       io.Writer
	partial string // plan text after the last complete line
}

func (v *Plain) printf(at time.Duration, format string, args ...any) {
	fmt.Fprintf(v.w, "[%6.2fs] %s\n", at.Seconds(), fmt.Sprintf(format, args...))
}

func (v *Plain) Event(e planner.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := e.Step
	switch e.Kind {
	case planner.PlanText:
		v.partial += e.Text
		for {
			line, rest, ok := strings.Cut(v.partial, "\n")
			if !ok {
				break
			}
			v.partial = rest
			if strings.TrimSpace(line) != "" {
				v.printf(e.At, "plan  %s", strings.TrimRight(line, "\r"))
			}
		}
	case planner.PlanDone:
		if strings.TrimSpace(v.partial) != "" {
			v.printf(e.At, "plan  %s", v.partial)
		}
		v.partial = ""
		switch {
		case errors.Is(e.Err, context.Canceled), errors.Is(e.Err, context.DeadlineExceeded):
			v.printf(e.At, "plan  interrupted")
		case e.Err != nil:
			v.printf(e.At, "plan  broke off: %v", e.Err)
		default:
			v.printf(e.At, "plan complete")
		}
	case planner.StepStarted:
		if e.Attempt > 1 {
			v.printf(e.At, "run   %s %s (attempt %d)", s.Name, s.Tool, e.Attempt)
			return
		}
		v.printf(e.At, "run   %s %s[%s]", s.Name, s.Tool, termtext.ClipLine(s.ResolvedInput, 100))
	case planner.StepRetrying:
		v.printf(e.At, "retry %s after: %v", s.Name, e.Err)
	case planner.StepFailed:
		if errors.Is(e.Err, context.Canceled) { // the run stopped it; its error says nothing more
			v.printf(e.At, "stop  %s after %s: cancelled", s.Name, seconds(s.Duration))
			return
		}
		what := "fail "
		if s.Blocked {
			what = "block"
		}
		v.printf(e.At, "%s %s after %s: %v", what, s.Name, seconds(s.Duration), e.Err)
	case planner.StepSkipped:
		v.printf(e.At, "skip  %s, %s", s.Name, e.Text)
	case planner.NewPlan:
		v.partial = ""
		if e.Text == "repair" {
			v.printf(e.At, "plan  cannot be run: asking the model to repair it")
		} else {
			v.printf(e.At, "plan  steps failed: asking the model for a new plan (the evidence gathered is kept)")
		}
	case planner.StepFinished:
		if s.Reused {
			v.printf(e.At, "reuse %s: %s (from an earlier plan)", s.Name, summary(s))
			return
		}
		v.printf(e.At, "done  %s in %s: %s", s.Name, seconds(s.Duration), summary(s))
	case planner.Answering:
		v.printf(e.At, "answer: no Answer line citing evidence that holds; asking KnowledgeModel over all evidence")
	}
}

func (v *Plain) Hold() func() {
	v.mu.Lock() // lines wait: the question is asked on the terminal meanwhile
	return v.mu.Unlock
}

func (v *Plain) Stop() {}

// Live redraws the plan with each step's state and time in place, on a
// terminal.
type Live struct {
	f     *os.File
	color bool
	start time.Time

	mu        sync.Mutex
	plan      string
	steps     map[int]planner.StepTrace // by line
	answering bool
	drawn     int // lines on screen from the last draw
	frame     int
	held      bool
	ended     bool // stopped: the answer may be streaming below the last frame

	done chan struct{}
	wg   sync.WaitGroup
}

func NewLive(f *os.File) *Live {
	v := &Live{f: f, color: os.Getenv("NO_COLOR") == "", start: time.Now(),
		steps: map[int]planner.StepTrace{}, done: make(chan struct{})}
	v.wg.Add(1)
	go v.tick()
	return v
}

// tick redraws a few times a second, so running steps' times advance.
func (v *Live) tick() {
	defer v.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-t.C:
			v.mu.Lock()
			v.frame++
			v.draw()
			v.mu.Unlock()
		}
	}
}

func (v *Live) Event(e planner.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ended {
		return
	}
	switch e.Kind {
	case planner.PlanText:
		v.plan += e.Text
	case planner.PlanDone:
		v.plan = e.Text
	case planner.Answering:
		v.answering = true
	case planner.NewPlan:
		// The old plan's frame stays on the screen; the new one draws below.
		v.draw()
		io.WriteString(v.f, v.paint(ansiDim, "  "+map[string]string{"repair": "the plan cannot be run: repairing it",
			"replan": "steps failed: a new plan, keeping the evidence gathered"}[e.Text])+"\n")
		v.plan, v.steps, v.drawn = "", map[int]planner.StepTrace{}, 0
	case planner.AnswerText:
	default:
		if e.Step.Line > 0 {
			v.steps[e.Step.Line] = e.Step
		}
	}
	v.draw()
}

func (v *Live) Hold() func() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ended {
		return func() {}
	}
	v.draw()
	v.held, v.drawn = true, 0 // the frame stays above the question
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.held = false
		if !v.ended {
			v.draw()
		}
	}
}

// Stop draws the last frame, which may cut failure reasons to the terminal's
// width: ask prints them whole below it.
func (v *Live) Stop() {
	close(v.done)
	v.wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.answering = false
	v.draw()
	v.ended = true
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// ANSI colours.
const (
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

func (v *Live) paint(c, s string) string {
	if !v.color {
		return s
	}
	return c + s + ansiReset
}

// status is the column before a step's line: a mark and the time.
func (v *Live) status(s planner.StepTrace) string {
	switch s.State {
	case planner.StateRunning:
		el := time.Since(v.start).Seconds() - s.Start
		return v.paint(ansiYellow, spinner[v.frame%len(spinner)]) + fmt.Sprintf(" %6.1fs", max(el, 0))
	case planner.StateDone:
		return v.paint(ansiGreen, "✓") + fmt.Sprintf(" %6.1fs", s.Duration)
	case planner.StateFailed:
		return v.paint(ansiRed, "✗") + fmt.Sprintf(" %6.1fs", s.Duration)
	case planner.StateSkipped:
		return v.paint(ansiDim, "–") + "        "
	}
	return v.paint(ansiDim, "…") + "        "
}

// draw replaces what the last draw wrote. It holds v.mu.
func (v *Live) draw() {
	if v.held {
		return
	}
	width, height, err := term.GetSize(int(v.f.Fd()))
	if err != nil || width < 20 || height < 2 {
		width, height = 80, 24
	}
	lines := v.lines(width, height)
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	b.WriteString("\r\x1b[J")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\n")
	}
	io.WriteString(v.f, b.String())
	v.drawn = len(lines)
}

// lines is what draw shows on a terminal of width×height: each line within the
// width (so none wraps) and at most height-1 of them, the plan's last ones when
// it is taller, so redrawing in place never scrolls the terminal.
func (v *Live) lines(width, height int) []string {
	var lines []string
	for i, l := range strings.Split(strings.TrimRight(v.plan, "\n"), "\n") {
		l = termtext.Printable(l)
		col := "         "
		if s, ok := v.steps[i+1]; ok {
			col = v.status(s)
			if s.State == planner.StateFailed && s.Error != "" {
				l += "  (" + termtext.Flat(s.Error) + ")"
			}
		}
		lines = append(lines, col+"  "+termtext.Clip(l, width-12))
	}
	if v.answering {
		lines = append(lines, v.paint(ansiYellow, spinner[v.frame%len(spinner)])+"          "+termtext.Clip("resolving the answer with KnowledgeModel over all evidence", width-12))
	}
	if len(lines) > height-1 {
		lines = lines[len(lines)-(height-1):]
	}
	return lines
}

func seconds(s float64) string { return fmt.Sprintf("%.2fs", s) }

// summary describes a finished step's evidence in a few words.
func summary(s planner.StepTrace) string {
	out := fmt.Sprintf("%d bytes", len(s.Output))
	if n := len(s.Sources); n > 0 {
		out += fmt.Sprintf(", %d sources", n)
	}
	return out
}
