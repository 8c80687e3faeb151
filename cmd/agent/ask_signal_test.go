package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

// TestAskInterrupt builds the agent, runs ask in a child process of its own
// process group against a slow scripted server, and sends it SIGINT once the
// first step is done and the second is running. The child must exit 130 soon,
// report what it got done, cut its calls to the server, and leave no process
// behind.
func TestAskInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	eng := &plannertest.Engine{Delay: 20 * time.Millisecond, Replies: []plannertest.Reply{
		{Match: "What is the first thing?", Text: " The first thing."},
		{Match: "BEGININSTRUCTION", Text: strings.Repeat(" and so on", 2000)},
		{Text: " Plan: Ask.\n:evidence0: = KnowledgeModel[What is the first thing?]\n" +
			"Plan: Ask more.\n:evidence1: = KnowledgeModel[What follows, given :evidence0:?]\n" +
			"Answer: :evidence1:\n"},
	}}
	srv := eng.NewServer()
	defer srv.Close()

	cmd := exec.Command(bin, "ask", "--llm-url", srv.URL, "q?")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "AGENT_CONFIG=", "AGENT_TOOLS=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL) // only if the test fails midway

	// Read progress until the second step runs, then interrupt.
	var progress strings.Builder
	lines := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(30*time.Second, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	defer deadline.Stop()
	for lines.Scan() {
		progress.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "run   :evidence1:") {
			break
		}
	}
	if !strings.Contains(progress.String(), "done  :evidence0:") {
		t.Fatalf("the second step never started:\n%s", progress.String())
	}
	// The step's call to the server is under way before the signal, so cutting it
	// can be checked below (under load the request may lag the "run" line).
	for wait := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		calls := eng.Calls()
		if strings.Contains(calls[len(calls)-1].Request.Prompt, "What follows") {
			break
		}
		if time.Since(wait) > 10*time.Second {
			t.Fatal("the second step's engine call never reached the server")
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	progress.Write(rest)
	err = cmd.Wait()
	took := time.Since(sent)

	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130\n%s", err, progress.String())
	}
	if took > 5*time.Second {
		t.Errorf("the child took %v to stop", took)
	}
	for _, s := range []string{"interrupted after", "1 of 2 steps done", "done     :evidence0:", "The first thing."} {
		if !strings.Contains(progress.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, progress.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout got %q; an interrupted run has no answer", stdout.String())
	}
	// The long KnowledgeModel generation was cut, not run to its end.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		calls := eng.Calls()
		last := calls[len(calls)-1]
		if !last.End.IsZero() {
			if last.Err == nil || len(last.Reply) > 2000 {
				t.Errorf("the server's last generation was not cut: err %v, %d bytes", last.Err, len(last.Reply))
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the server's last generation never ended: the child left its request open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("processes of the child's group are still alive (kill -0: %v)", err)
	}
}

// TestAskInterruptAtStdinPrompt: Ctrl-C while ask waits for its question on
// stdin ends it with status 130 (it used to be ignored until stdin closed).
func TestAskInterruptAtStdinPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "ask", "--llm-url", "http://127.0.0.1:1")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "AGENT_CONFIG=", "AGENT_TOOLS=")
	stdin, err := cmd.StdinPipe() // held open: the question never comes
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // only if the test fails midway
	// Give it time to install its signal handler and reach the read; a signal
	// before the handler would kill it with the signal, not status 130.
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ask ignored the interrupt at the stdin prompt")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130\n%s", err, stderr.String())
	}
}
