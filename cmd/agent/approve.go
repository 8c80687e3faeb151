package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/askview"
	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/internal/termtext"
	"github.com/rewoo-agent/agent/planner"
)

// errRefused is the answer of a person who did not say yes.
var errRefused = errors.New("refused at the terminal")

// terminalApprover asks a person, y/N, before each call of a tool marked
// confirm: true, on the terminal (/dev/tty, or stdin when that is the
// terminal) with the progress view held meanwhile. It is nil, so those calls
// are refused, when the command has no terminal (neither stdin nor stderr is
// one), and when planner.allow_confirm (--yes) lets them all run.
func terminalApprover(cfg *configs.Config, std stdio, view askview.Progress) func(context.Context, planner.Approval) error {
	if cfg.Planner.AllowConfirm || (!isTerminal(std.err) && !isReaderTerminal(std.in)) {
		return nil
	}
	return func(ctx context.Context, a planner.Approval) error {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		var in io.Reader
		var out io.Writer
		switch {
		case err == nil:
			defer tty.Close()
			in, out = tty, tty
			// Closing the terminal ends a read that ctx's end leaves waiting.
			stop := context.AfterFunc(ctx, func() { tty.Close() })
			defer stop()
		case isReaderTerminal(std.in):
			in, out = std.in, std.err
		default:
			return fmt.Errorf("no terminal to ask on: %w", err)
		}
		release := view.Hold()
		defer release()
		return confirm(ctx, in, out, a)
	}
}

// isTerminal reports whether w is a terminal, where progress may redraw itself.
func isTerminal(w io.Writer) bool { return askview.IsTerminal(w) }

func isReaderTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks on w whether a may run and reads the answer from r: yes (y,
// yes) runs it, anything else, or nothing, refuses it.
func confirm(ctx context.Context, r io.Reader, w io.Writer, a planner.Approval) error {
	ok, err := input.Confirm(ctx, r, w, fmt.Sprintf("agent: %s wants to run %s[%s]. Run it?", a.Step, a.Tool, termtext.ClipLine(a.Input, 200)))
	switch {
	case err != nil:
		return err
	case !ok:
		return errRefused
	}
	return nil
}
