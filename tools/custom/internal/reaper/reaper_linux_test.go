package reaper

import (
	"os"
	"os/exec"
	"slices"
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
