package research

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/internal/termtext"
)

// MaxQuestionsBytes bounds a file of questions.
const MaxQuestionsBytes = 256 << 20

// ReadQuestionsFile reads the questions of the file at path, or of stdin for
// "-"; ctx's end stops the reading of stdin, which may be a terminal.
func ReadQuestionsFile(ctx context.Context, stdin io.Reader, path string) ([]Question, error) {
	data, err := input.File(ctx, stdin, path, MaxQuestionsBytes)
	if err != nil {
		return nil, err
	}
	if path == "-" {
		path = "stdin"
	}
	return ReadQuestions(bytes.NewReader(data), path)
}

// OpenFor opens the journal at out for the questions of the file at in ("-":
// stdin), refusing the questions' own file.
func OpenFor(in, out string) (*Journal, error) {
	if in != "-" {
		if a, b := statOrNil(in), statOrNil(out); a != nil && b != nil && os.SameFile(a, b) {
			return nil, fmt.Errorf("%s is both the questions and the output", out)
		}
	}
	return Open(out)
}

func statOrNil(path string) os.FileInfo {
	fi, _ := os.Stat(path)
	return fi
}

// WriteRecordLine reports a recorded question on one line, elapsed since the
// job's start: with quiet only a failure, whose reason follows whole, each
// line indented.
func WriteRecordLine(w io.Writer, rec *Record, t Tally, elapsed time.Duration, quiet bool) {
	failed := rec.Status != StatusOK
	if quiet && !failed {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%7.1fs] %d/%d %-8s %s (%.2fs, %d steps, %d tokens)", elapsed.Seconds(), t.Recorded, t.Total,
		rec.Status, rec.ID, rec.Timings.Total, len(rec.Steps), rec.Tokens.Prompt+rec.Tokens.Generated)
	if !failed {
		fmt.Fprintf(&b, ": %s\n", termtext.ClipLine(rec.Answer, 80))
		io.WriteString(w, b.String())
		return
	}
	why := []string{rec.Error}
	for _, s := range rec.Steps { // a step's reason the question's may not hold
		if s.Error != "" && !strings.Contains(rec.Error, s.Error) {
			why = append(why, fmt.Sprintf("step %s = %s[%s] %s: %s", s.Name, s.Tool, s.Input, s.State, s.Error))
		}
	}
	b.WriteString(":\n")
	for _, l := range strings.Split(strings.Join(why, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	io.WriteString(w, b.String())
}

// WriteReport reports, as agent batch does, what the job did in took;
// finished says no error stopped it.
func (s *Summary) WriteReport(w io.Writer, took time.Duration, finished bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "batch: %d of %d run in %.1fs: %d ok, %d failed", s.Recorded, s.Total, took.Seconds(), s.OK, s.NotOK())
	if s.NotOK() > 0 {
		fmt.Fprintf(&b, " (%d bad_plan, %d timeout, %d partial, %d blocked)", s.BadPlan, s.Timeout, s.Partial, s.Blocked)
	}
	fmt.Fprintf(&b, "; %d skipped", s.Plan.Skipped)
	if s.Plan.SkippedFailed > 0 {
		fmt.Fprintf(&b, " (%d of them failed before; --retry-failed runs them again)", s.Plan.SkippedFailed)
	}
	fmt.Fprintf(&b, "; tokens: %d prompt, %d generated\n", s.Tokens.Prompt, s.Tokens.Generated)
	if left := s.Unrecorded(); left > 0 && finished {
		fmt.Fprintf(&b, "%d questions have no record (%d stopped while running, %d not started); run the same command again to answer them\n",
			left, s.Stopped, left-s.Stopped)
	}
	io.WriteString(w, b.String())
}
