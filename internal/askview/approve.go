package askview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/internal/termtext"
	"github.com/rewoo-agent/agent/planner"
)

// ErrRefused is the answer of a person who did not say yes.
var ErrRefused = errors.New("refused at the terminal")

// Approver asks a person, y/N, before each call of a tool marked confirm:
// true, on the terminal (/dev/tty, or in when that is the terminal) with view
// held meanwhile. It is nil, so those calls are refused, when the command has
// no terminal: neither in nor progress (where view draws) is one.
func Approver(in io.Reader, progress io.Writer, view Progress) func(context.Context, planner.Approval) error {
	if !IsTerminal(progress) && !input.IsTerminal(in) {
		return nil
	}
	return func(ctx context.Context, a planner.Approval) error {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		var r io.Reader
		var w io.Writer
		switch {
		case err == nil:
			defer tty.Close()
			r, w = tty, tty
			// Closing the terminal ends a read that ctx's end leaves waiting.
			stop := context.AfterFunc(ctx, func() { tty.Close() })
			defer stop()
		case input.IsTerminal(in):
			r, w = in, progress
		default:
			return fmt.Errorf("no terminal to ask on: %w", err)
		}
		release := view.Hold()
		defer release()
		return Confirm(ctx, r, w, a)
	}
}

// Confirm asks on w whether a may run and reads the answer from r: yes (y,
// yes) runs it, anything else, or nothing, refuses it (ErrRefused).
func Confirm(ctx context.Context, r io.Reader, w io.Writer, a planner.Approval) error {
	ok, err := input.Confirm(ctx, r, w, fmt.Sprintf("agent: %s wants to run %s[%s]. Run it?", a.Step, a.Tool, termtext.ClipLine(a.Input, 200)))
	switch {
	case err != nil:
		return err
	case !ok:
		return ErrRefused
	}
	return nil
}
