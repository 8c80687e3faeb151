//go:build unix

package research

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lock takes an advisory lock on a journal for as long as f is open, so two jobs
// never answer the same questions into one file. The kernel drops the lock when
// the process dies, however it dies.
func lock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%w: another batch job is writing %s", ErrLocked, f.Name())
	}
	if err != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return nil
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
