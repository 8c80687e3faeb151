//go:build unix

package benchpeer

import (
	"os/exec"
	"syscall"
)

// inGroup runs cmd in its own process group and makes cancelling it kill the
// whole group: the shell and the interpreter it starts both hold the GPU.
func inGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
