package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/open"
)

// cleanEnv keeps the machine's configuration and AGENT_* variables out of a test
// (unset: a variable set to "" is a value, and beats the file).
func cleanEnv(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, k := range []string{"AGENT_CONFIG", "AGENT_MODEL", "AGENT_LLM_URL", "AGENT_TOOLS", "AGENT_TOKENIZER", "AGENT_DEVICE", "AGENT_PULL"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
}

// TestFlagsAfterArguments: flags may follow the question, and "--" ends them.
func TestFlagsAfterArguments(t *testing.T) {
	e := newAskEnv(t, askPlan, 0)
	out, errOut, code := runAgent(t, "", "ask", "Q", "--json", "--quiet", "--llm-url", e.llm.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var tr struct {
		Question string `json:"question"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Question != "Q" {
		t.Fatalf("stdout is not the JSON trace of question \"Q\" (%v):\n%s", err, out)
	}

	out, errOut, code = runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--json", "--quiet", "--", "--json", "is", "-not", "a", "flag")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Question != "--json is -not a flag" {
		t.Errorf("after --: question %q, %v; want the words after -- as the question", tr.Question, err)
	}
}

// TestHelp: help goes to stdout with exit 0, for the root, each command and
// "help CMD", and shows the flags' types and defaults.
func TestHelp(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}, {"ask", "--help"}, {"help", "ask"}, {"tools", "call", "--help"}, {"help", "plan", "check"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runAgent(t, "", args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
			}
		})
	}
	out, _, _ := runAgent(t, "", "help", "ask")
	for _, want := range []string{"--max-steps int", "(default 16)", "--timeout duration", "(default 10m0s)", "--top-k int", "--model string", "--json"} {
		if !strings.Contains(out, want) {
			t.Errorf("ask's help lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runAgent(t, "", "--help")
	for _, cmd := range []string{"ask", "batch", "bench", "completion", "config", "generate", "perplexity", "plan", "pull", "run", "tools", "tokenize", "detokenize"} {
		if !strings.Contains(out, "  "+cmd+" ") {
			t.Errorf("the command list lacks %s:\n%s", cmd, out)
		}
	}
}

// TestToolsCallAdvisesItsOwnFlags: KnowledgeModel without an engine advises
// --model and --llm-url, which tools call takes.
func TestToolsCallAdvisesItsOwnFlags(t *testing.T) {
	cleanEnv(t)
	_, errOut, code := runAgent(t, "", "tools", "call", "KnowledgeModel", "why?")
	if code != 1 || !strings.Contains(errOut, "--model") || !strings.Contains(errOut, "--llm-url") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	help, _, _ := runAgent(t, "", "tools", "call", "--help")
	for _, flag := range []string{"--model", "--llm-url"} {
		if !strings.Contains(help, flag) {
			t.Errorf("the error advises %s, which tools call's help does not list:\n%s", flag, help)
		}
	}
}

func TestVersion(t *testing.T) {
	out, errOut, code := runAgent(t, "", "--version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "agent ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "cuda: no") || !strings.Contains(out, "cpu") {
		t.Errorf("--version printed %q, want the version, the commit and that this build has no CUDA", out)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_agent", "zsh": "#compdef agent", "fish": "complete -c agent"} {
		out, errOut, code := runAgent(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, stderr %q, script lacks %q", shell, code, errOut, want)
		}
	}
	// The completion of a command's flags comes from the program itself.
	out, _, code := runAgent(t, "", "__complete", "ask", "--max-")
	if code != 0 || !strings.Contains(out, "--max-steps") {
		t.Errorf("completing ask --max-: exit %d, %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{
		{"nope"},
		{"ask", "--nope", "q"},
		{"ask", "--max-steps", "x", "q"},
		{"tools", "call", "OnlyAName"},
		{"plan", "check", "a", "b"},
		{"pull"},
		{"generate", "--device", "cuda:x", "--ids", "1"},
	} {
		_, errOut, code := runAgent(t, "", args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a usage error (2)", args, code, errOut)
		}
	}
}

// TestEngineSpecPrecedence: flag > AGENT_* > file > default, the same for
// every command; a model and a server from different levels are no conflict.
func TestEngineSpecPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		file  string            // engine section of the config file
		env   map[string]string // AGENT_* variables
		flags map[string]string // configuration keys set by flags
		model string            // the spec's model and server; "" for none
		url   string
		err   error
	}{
		{name: "defaults", err: open.ErrNoEngine},
		{name: "file model", file: "model: /m/file", model: "/m/file"},
		{name: "env beats file", file: "model: /m/file", env: map[string]string{"AGENT_MODEL": "/m/env"}, model: "/m/env"},
		{name: "flag beats env", env: map[string]string{"AGENT_MODEL": "/m/env"}, flags: map[string]string{"engine.model": "/m/flag"}, model: "/m/flag"},
		{name: "flag model over file server", file: "llm_url: http://file", flags: map[string]string{"engine.model": "/m/flag"}, model: "/m/flag"},
		{name: "env model over file server", file: "llm_url: http://file", env: map[string]string{"AGENT_MODEL": "/m/env"}, model: "/m/env"},
		{name: "flag server over env model", env: map[string]string{"AGENT_MODEL": "/m/env"}, flags: map[string]string{"engine.llm_url": "http://flag"}, url: "http://flag"},
		{name: "both in the file", file: "model: /m/file\n  llm_url: http://file", err: open.ErrBothEngines},
		{name: "both flags", flags: map[string]string{"engine.model": "/m", "engine.llm_url": "http://flag"}, err: open.ErrBothEngines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			file := ""
			if tt.file != "" {
				file = filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(file, []byte("engine:\n  "+tt.file+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var settings []configs.Setting
			for k, v := range tt.flags {
				settings = append(settings, configs.Setting{Key: k, Value: v, Flag: "--" + k})
			}
			cfg, err := loadConfig(file, settings)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := engineSpec(cfg, io.Discard)
			if err == nil {
				err = spec.Check()
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || spec.Model != tt.model || spec.URL != tt.url {
				t.Errorf("model %q, server %q (%v); want %q, %q", spec.Model, spec.URL, err, tt.model, tt.url)
			}
		})
	}
}

// TestGenerateFromEnvironment: generate, like every command, takes its model from
// AGENT_MODEL.
func TestGenerateFromEnvironment(t *testing.T) {
	cleanEnv(t)
	t.Setenv("AGENT_MODEL", gptqFixture("tiny-4bit-128g-actorder"))
	t.Setenv("AGENT_DEVICE", "cpu")
	out, errOut, code := runAgent(t, "", "generate", "--ids", "1,2,3", "--max-tokens", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var res struct{ IDs []int }
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.IDs) != 2 {
		t.Errorf("stdout %q (%v), want 2 generated ids", out, err)
	}
}

// TestIDsCheckedAgainstTheVocabulary: an id past the vocabulary is a clear error
// naming it and the vocabulary's size, in every command that takes ids.
func TestIDsCheckedAgainstTheVocabulary(t *testing.T) {
	cleanEnv(t)
	dir := gptqFixture("tiny-4bit-128g-actorder")
	for _, args := range [][]string{
		{"perplexity", "--model", dir, "--ids", "1,5000"},
		{"perplexity", "--model", dir, "--ids", "5000,1"},
		{"generate", "--model", dir, "--ids", "1,5000"},
	} {
		_, errOut, code := runAgent(t, "", args...)
		if code != 1 || !strings.Contains(errOut, "id 5000") || !strings.Contains(errOut, "the vocabulary has") {
			t.Errorf("%v: exit %d, stderr %q; want an error naming id 5000 and the vocabulary", args, code, errOut)
		}
	}
}

// TestMissingModelFolder: a model folder that is not there is reported as that.
func TestMissingModelFolder(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{
		{"generate", "--model", "/nonexistent", "--prompt", "x"},
		{"perplexity", "--model", "/nonexistent", "--ids", "1,2"},
		{"bench", "--model", "/nonexistent"},
		{"tokenize", "--model", "/nonexistent"},
	} {
		_, errOut, code := runAgent(t, "x", args...)
		if code != 1 || !strings.Contains(errOut, "/nonexistent: "+hub.ErrNoFolder.Error()) || strings.Contains(errOut, "tokenizer") {
			t.Errorf("%v: exit %d, stderr %q; want the missing folder, not a missing tokenizer", args, code, errOut)
		}
	}
}

// TestToolsCallStdin: "-" reads the input from stdin; more than the limit is an
// error, never a silent cut.
func TestToolsCallStdin(t *testing.T) {
	e := newWebEnv(t, 0)
	out, errOut, code := runAgent(t, e.srv.URL+"/page/1", "tools", "call", "TextScraper", "-")
	if code != 0 || !strings.Contains(out, "Louise Glück") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	big := strings.Repeat("x", maxStdin+1)
	_, errOut, code = runAgent(t, big, "tools", "call", "TextScraper", "-")
	if code != 1 || !strings.Contains(errOut, "more than 1048576 bytes") {
		t.Errorf("input over the limit: exit %d, stderr %q; want an error", code, errOut)
	}
}

// TestStdinGivesWayToInterrupt: reading stdin that never ends returns when the
// context ends (Ctrl-C at a terminal), with the context's error.
func TestStdinGivesWayToInterrupt(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := askQuestion(ctx, r, nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the question's read did not stop at the interrupt")
	}
}

// TestQuietKeepsFailures: with --quiet a failed step's reason still reaches
// stderr, whole.
func TestQuietKeepsFailures(t *testing.T) {
	plan := " Plan: read.\n:evidence0: = TextScraper[http://127.0.0.1:1/" + strings.Repeat("long-path/", 20) + "end]\n" +
		"Plan: search.\n:evidence1: = DuckDuckGo[Nobel Prize in Literature 2020 winner]\nAnswer: :evidence1:\n"
	e := newAskEnv(t, plan, 0)
	t.Setenv("AGENT_RETRIES", "0")
	out, errOut, code := runAgent(t, "", "ask", "--llm-url", e.llm.URL, "--quiet", "q?")
	if code != 0 || out == "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "failed :evidence0: = TextScraper[") ||
		!strings.Contains(lines[0], "end: ") || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("stderr with --quiet:\n%s\nwant one line with the failed step's whole reason", errOut)
	}
}
