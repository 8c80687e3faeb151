package askview

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
)

func TestConfirmAnswer(t *testing.T) {
	a := planner.Approval{Tool: "Delete", Step: ":evidence0:", Input: "note 1"}
	for in, want := range map[string]error{"y\n": nil, "YES\n": nil, " y \n": nil, "\n": ErrRefused, "": ErrRefused, "n\n": ErrRefused, "yep\n": ErrRefused} {
		var w strings.Builder
		if err := Confirm(context.Background(), strings.NewReader(in), &w, a); !errors.Is(err, want) {
			t.Errorf("answer %q: %v, want %v", in, err, want)
		}
		if got := w.String(); !strings.Contains(got, ":evidence0: wants to run Delete[note 1]. Run it? [y/N]") {
			t.Errorf("question %q", got)
		}
	}
}

// TestConfirmInterrupt: Ctrl-C while the question waits ends it.
func TestConfirmInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, w := io.Pipe()
	t.Cleanup(func() { r.Close(); w.Close() })
	if err := Confirm(ctx, r, &strings.Builder{}, planner.Approval{Tool: "Delete"}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// TestApproverWithoutTerminal: with neither stdin nor the progress a terminal
// there is no one to ask, so there is no approver (confirm tools are refused).
func TestApproverWithoutTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, in := range map[string]io.Reader{"buffer": strings.NewReader("y\n"), "file": f} {
		var progress strings.Builder
		if a := Approver(in, &progress, New(&progress, false)); a != nil {
			t.Errorf("%s: an approver without a terminal", name)
		}
	}
}
