package custom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// TestCommandLeavesNothing runs a program that leaves a setsid child, an
// orphaned setsid grandchild and a plain background child behind, and checks
// that none of them runs once the call has returned: on exit, on timeout and on
// cancellation.
func TestCommandLeavesNothing(t *testing.T) {
	for _, tt := range []struct {
		name, then, timeout string
		cancel              bool
		err                 string
	}{
		{"exit", "exit", "30s", false, ""},
		{"timeout", "hang", "2s", false, "killed after the 2s timeout"},
		{"cancellation", "hang", "30s", true, context.Canceled.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "pids")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			y := fmt.Sprintf("tools:\n  - name: Daemons\n    description: d\n    command:\n      argv: [%s, daemons, %q, %s]\n      env: [AGENT_CUSTOM_HELPER]\n      timeout: %s\n", exe(t), fifo, tt.then, tt.timeout)
			tl := load(t, y, Options{Environ: []string{helperEnv}})["Daemons"]
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := tl.Call(ctx, tools.Request{})
				done <- err
			}()
			pids := readPids(t, fifo, done)
			if tt.cancel {
				cancel()
			}
			err := <-done
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
			for _, pid := range pids {
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("process %d outlived the call (kill 0: %v)", pid, err)
				}
			}
		})
	}
}

// readPids reads the pids the helper writes to fifo, or fails if the call ends
// first.
func readPids(t *testing.T, fifo string, done chan error) []int {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	var b []byte
	select {
	case b = <-got:
	case err := <-done:
		// Unblock the reader, then report.
		if f, ferr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); ferr == nil {
			f.Close()
		}
		done <- err
		t.Fatalf("the call ended before the helper wrote its pids: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pids %q: %v", b, err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("pids = %q, want three", b)
	}
	return pids
}

// The review's case: a shell script that exits leaving `sleep 63 &` behind.
func TestCommandBackgroundSleep(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh here")
	}
	y := "tools:\n  - name: Bg\n    description: d\n    command:\n      argv: [sh, -c, 'sleep 63 & echo $!; setsid sleep 64 & echo $!']\n      env: [PATH]\n"
	out, err := call(t, load(t, y, Options{Environ: []string{"PATH=" + os.Getenv("PATH")}})["Bg"], "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(out.Text) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("out = %q", out.Text)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("sleep %d outlived the call (kill 0: %v)", pid, err)
		}
	}
}

// An MCP server's descendants die with the set.
func TestMCPLeavesNothing(t *testing.T) {
	y := fmt.Sprintf("tools:\n  - mcp:\n      command: [%s, mcp]\n      env: [AGENT_CUSTOM_HELPER]\n      timeout: 20s\n", exe(t))
	set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{helperEnv}})
	if err != nil {
		t.Fatal(err)
	}
	var spawn tools.Tool
	for _, tl := range set.Tools {
		if tl.Name() == "spawn" {
			spawn = tl
		}
	}
	if spawn == nil {
		t.Fatal("no spawn tool")
	}
	out, err := call(t, spawn, "x")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(out.Text)
	if err != nil {
		t.Fatalf("out = %q", out.Text)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the server's child is not running before Close: %v", err)
	}
	start := time.Now()
	set.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("process %d outlived the MCP server (kill 0: %v, %s after Close)", pid, err, time.Since(start))
	}
}
