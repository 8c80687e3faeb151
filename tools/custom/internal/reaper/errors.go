package reaper

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrStopped is the error of a program killed because its call was stopped.
var ErrStopped = errors.New("stopped")

// ErrSurvivors is the error when processes of the program could not be killed
// (setuid programs an unprivileged reaper may not signal).
var ErrSurvivors = errors.New("processes survived the program")

// ExitError is a program that exited with a non-zero status or was killed by a
// signal.
type ExitError struct {
	Code   int            // the exit status; -1 when a signal killed it
	Signal syscall.Signal // the signal, when one killed it
}

// ExitCode is the exit status, -1 for a signal, as exec.ExitError has.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Error() string {
	if e.Code < 0 {
		return "signal: " + e.Signal.String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}
