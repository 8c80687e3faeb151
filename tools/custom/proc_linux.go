package custom

import (
	"os/exec"

	"github.com/rewoo-agent/agent/tools/custom/internal/reaper"
)

// run runs cmd under a reaper, so that when it returns, by exit, timeout or
// cancellation, every process the program started is gone, setsid daemons
// included.
func run(cmd *exec.Cmd) error {
	if _, err := exec.LookPath(cmd.Path); err != nil {
		return err
	}
	r, err := reaper.Command(cmd)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Run()
}

// contain makes cmd, a server that something else starts and waits for, run
// under a reaper; release, once it has been waited for, frees what the reaper
// needed (and kills what the server left, if the reaper still runs).
func contain(cmd *exec.Cmd) (release func(), err error) {
	if _, err := exec.LookPath(cmd.Path); err != nil {
		return nil, err
	}
	r, err := reaper.Command(cmd)
	if err != nil {
		return nil, err
	}
	return r.Close, nil
}
