package reaper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Both ways of finding children find a child.
func TestChildren(t *testing.T) {
	path, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep here")
	}
	c := exec.Command(path, "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Process.Kill()
	if got := children(); !slices.Contains(got, c.Process.Pid) {
		t.Errorf("children() = %v, want %d in it", got, c.Process.Pid)
	}
	if got := scan(os.Getpid()); !slices.Contains(got, c.Process.Pid) {
		t.Errorf("scan() = %v, want %d in it", got, c.Process.Pid)
	}
}

// A reaper stopped by closing its pipe (Stop, or the caller dying) or by SIGTERM
// (an MCP transport giving up) kills the program and what it started before it
// exits.
func TestStop(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh here")
	}
	for _, how := range []string{"pipe", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(sh, "-c", "sleep 61 & echo $!; exec sleep 62")
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			r, err := Command(cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			var pid int
			if _, err := fmt.Fscan(out, &pid); err != nil {
				t.Fatal(err)
			}
			if how == "pipe" {
				r.Stop()
			} else {
				r.Process.Signal(syscall.SIGTERM)
			}
			if err := r.Wait(); !errors.Is(err, ErrStopped) {
				t.Errorf("err = %v, want ErrStopped", err)
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("sleep %d outlived the reaper (kill 0: %v)", pid, err)
			}
		})
	}
}

// The program's exit status comes back as it was.
func TestExitStatus(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh here")
	}
	for _, tt := range []struct {
		script string
		want   string
	}{
		{"exit 0", ""},
		{"exit 7", "exit status 7"},
		{"kill -9 $$", "signal: killed"},
	} {
		r, err := Command(exec.Command(sh, "-c", tt.script))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run()
		r.Close()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.script, err, tt.want)
		}
	}
	r, err := Command(exec.Command("/nonexistent/program"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Run(); err == nil || !strings.Contains(err.Error(), "start /nonexistent/program: no such file or directory") {
		t.Errorf("a missing program: %v", err)
	}
}
