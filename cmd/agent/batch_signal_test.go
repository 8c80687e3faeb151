package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBatchStopAndResume builds the agent and runs a batch in a child process
// against a slow scripted model, stops it midway (SIGKILL, then SIGINT), and
// resumes the job in process: the resumed run must answer exactly the questions
// without a record, and the output must hold each id once.
func TestBatchStopAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e := newBatchEnv(t, map[string]string{"QK": " Plan: Search.\n:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]\nAnswer: :evidence0:\n"})
	e.eng.Delay = 25 * time.Millisecond
	const n = 8
	var questions strings.Builder
	for i := range n {
		fmt.Fprintf(&questions, "QK %d?\n", i+1)
	}
	in := writeFile(t, "questions.txt", questions.String())
	asked := regexp.MustCompile(`Question: QK (\d+)\?`)

	tests := []struct {
		name     string
		sig      syscall.Signal
		code     int
		progress []string
	}{
		{"SIGKILL", syscall.SIGKILL, -1, nil},
		{"SIGINT", syscall.SIGINT, 130, []string{"not started); run the same command again to answer them", "agent: batch: interrupted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.jsonl")
			cmd := exec.Command(bin, "batch", "--llm-url", e.llm.URL, "--parallel", "2", in, out)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pgid := cmd.Process.Pid
			defer syscall.Kill(-pgid, syscall.SIGKILL) // only if the test fails midway

			// Stop the child once two questions are recorded.
			for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
				data, _ := os.ReadFile(out)
				if bytes.Count(data, []byte("\n")) >= 2 {
					break
				}
				if time.Since(start) > 30*time.Second {
					t.Fatalf("no records after 30s:\n%s", stderr.String())
				}
			}
			sent := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
				t.Errorf("exit: %v, want status %d\n%s", err, tt.code, stderr.String())
			}
			if took := time.Since(sent); took > 5*time.Second {
				t.Errorf("the child took %v to stop", took)
			}
			for _, s := range tt.progress {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}

			// The ids with a complete record; a kill may leave one more line half
			// written, which the resumed run cuts off.
			data, _ := os.ReadFile(out)
			done := map[string]bool{}
			for _, l := range strings.SplitAfter(string(data), "\n") {
				if !strings.HasSuffix(l, "\n") {
					continue
				}
				var r batchLine
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("a complete line is no record: %v: %q", err, l)
				}
				done[r.ID] = true
			}
			if len(done) < 2 || len(done) == n {
				t.Fatalf("%d of %d questions recorded at the stop", len(done), n)
			}

			before := len(e.eng.Calls())
			_, errOut, code := runAgent(t, "", "batch", "--llm-url", e.llm.URL, "--parallel", "3", in, out)
			if code != 0 {
				t.Fatalf("resume: exit %d\n%s", code, errOut)
			}
			var rerun, missing []string
			for _, c := range e.eng.Calls()[before:] {
				if m := asked.FindStringSubmatch(c.Request.Prompt); m != nil {
					rerun = append(rerun, m[1])
				}
			}
			for i := range n {
				if id := fmt.Sprint(i + 1); !done[id] {
					missing = append(missing, id)
				}
			}
			slices.Sort(rerun)
			if !slices.Equal(rerun, missing) {
				t.Errorf("the resumed run asked %v, want the questions without a record %v", rerun, missing)
			}
			recs := byID(t, readBatchOutput(t, out))
			if len(recs) != n {
				t.Errorf("%d ids recorded, want %d", len(recs), n)
			}
			for id, r := range recs {
				if r.Status != "ok" || r.Question != "QK "+id+"?" {
					t.Errorf("record %s: %+v", id, r)
				}
			}
			if !strings.Contains(errOut, fmt.Sprintf("%d to run (%d at a time), %d recorded", len(missing), min(3, len(missing)), len(done))) {
				t.Errorf("the resumed run's stderr:\n%s", errOut)
			}
			if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("processes of the child's group are still alive (kill -0: %v)", err)
			}
		})
	}
}

// TestBatchLocked checks a second job on the same output file is refused while
// the first holds it.
func TestBatchLocked(t *testing.T) {
	e := newBatchEnv(t, nil)
	out := writeFile(t, "out.jsonl", "")
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runAgent(t, "Q?\n", "batch", "--llm-url", e.llm.URL, "-", out)
	if code != 2 || !strings.Contains(errOut, "another batch job is writing "+out) || len(e.eng.Calls()) != 0 {
		t.Errorf("exit %d, %d engine calls\n%s", code, len(e.eng.Calls()), errOut)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, errOut, code := runAgent(t, "Q?\n", "batch", "--llm-url", e.llm.URL, "-", out); code != 0 {
		t.Errorf("after the lock went: exit %d\n%s", code, errOut)
	}
}
