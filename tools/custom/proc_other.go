//go:build !unix

package custom

import "os/exec"

// killGroup leaves cmd as it is: without process groups, cancelling kills the
// program itself (exec's default).
func killGroup(*exec.Cmd) {}
