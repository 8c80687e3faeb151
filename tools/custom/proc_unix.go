//go:build unix

package custom

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in its own process group and makes cancelling it kill the
// whole group, so a program's children die with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
