//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockOutput takes an advisory lock on a batch's output file for as long as f is
// open, so two jobs never answer the same questions into one file. The kernel
// drops the lock when the process dies, however it dies.
func lockOutput(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("batch: another batch job is writing %s", f.Name())
	}
	if err != nil {
		return fmt.Errorf("batch: locking %s: %w", f.Name(), err)
	}
	return nil
}
