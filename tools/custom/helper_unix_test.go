//go:build unix

package custom

import (
	"os"
	"os/exec"
	"syscall"
)

// start starts a helper that sleeps, in a session of its own if setsid, and
// returns its pid without waiting for it.
func start(setsid bool) int {
	c := exec.Command(os.Args[0], "sleep")
	c.Env = []string{helperEnv}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := c.Start(); err != nil {
		panic(err)
	}
	return c.Process.Pid
}
