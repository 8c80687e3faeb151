package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// TestServeSIGTERMDrains builds the agent, serves a slow scripted server through
// it in a child process, and sends SIGTERM while a streamed completion is under
// way: the completion must arrive whole, and the child exit 0 once it has.
func TestServeSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	reply := strings.Repeat(" and so on", 25)
	eng := &plannertest.Engine{Delay: 20 * time.Millisecond, Replies: []plannertest.Reply{{Text: reply}}}
	upstream := eng.NewServer()
	defer upstream.Close()

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--llm-url", upstream.URL, "--llm-model", "slow")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "AGENT_CONFIG=", "AGENT_MODEL=", apiKeysEnv+"=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer syscall.Kill(-pid, syscall.SIGKILL) // only if the test fails midway
	deadline := time.AfterFunc(60*time.Second, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	defer deadline.Stop()

	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	url := ""
	for url == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if _, rest, ok := strings.Cut(lines.Text(), " at http://"); ok {
			url = "http://" + strings.TrimSuffix(strings.Fields(rest)[0], "/v1")
		}
	}
	if url == "" {
		t.Fatalf("serve did not start:\n%s", log.String())
	}
	rest := make(chan string)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	c, err := openai.New(url, openai.Options{})
	if err != nil {
		t.Fatal(err)
	}
	signalled := false
	res, err := c.Generate(context.Background(), engine.Request{Prompt: "go on"}, func(string) error {
		if !signalled {
			signalled = true
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil || res.Text != reply {
		t.Errorf("the completion under way at SIGTERM: %q, %v; want it whole", res.Text, err)
	}
	// All of stderr first (it ends when serve exits): Wait closes the pipe, and
	// lines still in it would be lost.
	log.WriteString(<-rest)
	werr := cmd.Wait()
	if werr != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", werr, log.String())
	}
	if !strings.Contains(log.String(), "draining") || !strings.Contains(log.String(), "drained") {
		t.Errorf("stderr does not tell of the drain:\n%s", log.String())
	}
}
