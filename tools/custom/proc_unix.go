//go:build unix && !linux

package custom

import (
	"os/exec"
	"syscall"
)

// run runs cmd in its own process group and makes cancelling it kill the whole
// group. Without Linux's child subreaper, a daemon that leaves the group
// (setsid) outlives the call.
func run(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return cmd.Run()
}

// contain leaves cmd as it is: the transport that runs it stops the server.
func contain(*exec.Cmd) (func(), error) { return func() {}, nil }
