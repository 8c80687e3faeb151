package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/planner"
)

func TestConfirmAnswer(t *testing.T) {
	a := planner.Approval{Tool: "Delete", Step: ":evidence0:", Input: "note 1"}
	for in, want := range map[string]error{"y\n": nil, "YES\n": nil, " y \n": nil, "\n": errRefused, "": errRefused, "n\n": errRefused, "yep\n": errRefused} {
		var w strings.Builder
		if err := confirm(context.Background(), strings.NewReader(in), &w, a); !errors.Is(err, want) {
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
	r, w := ioPipe(t)
	defer w.Close()
	if err := confirm(ctx, r, &strings.Builder{}, planner.Approval{Tool: "Delete"}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func ioPipe(t *testing.T) (*io.PipeReader, *io.PipeWriter) {
	t.Helper()
	r, w := io.Pipe()
	t.Cleanup(func() { r.Close() })
	return r, w
}
