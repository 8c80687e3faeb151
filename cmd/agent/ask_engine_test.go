package main

import (
	"github.com/rewoo-agent/agent/internal/fixtures"

	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/planparser"
)

// askFixtures is the repository's fixtures folder (internal/fixtures).
var askFixtures = fixtures.Dir()

// smallTokenizer writes the LLaMA tokenizer cut to its first n pieces (specials,
// the 256 byte pieces, then the most common merges): the tiny fixture checkpoints
// have a vocabulary of 1024, and byte fallback encodes any text within it.
func smallTokenizer(t *testing.T, n int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(askFixtures, "tokenizer", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	pieces := 0
	for len(data) > 0 {
		num, typ, tn := protowire.ConsumeTag(data)
		if tn < 0 {
			t.Fatalf("tokenizer.model: %v", protowire.ParseError(tn))
		}
		vn := protowire.ConsumeFieldValue(num, typ, data[tn:])
		if vn < 0 {
			t.Fatalf("tokenizer.model: %v", protowire.ParseError(vn))
		}
		if num != 1 || pieces < n { // field 1: the pieces
			out = append(out, data[:tn+vn]...)
		}
		if num == 1 {
			pieces++
		}
		data = data[tn+vn:]
	}
	path := filepath.Join(t.TempDir(), "tokenizer.model")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(path)
	if err != nil || tok.VocabSize() != n {
		t.Fatalf("cut tokenizer: %v (%d pieces)", err, tok.VocabSize())
	}
	return path
}

// TestAskLocalModel runs ask on the tiny fixture checkpoints through the real
// engine with --constrain=false: the weights are random, so the plan is noise
// and cannot be run, but the model must load, stream, stop at the token limit,
// and report the call.
func TestAskLocalModel(t *testing.T) {
	tok := smallTokenizer(t, 1024)
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		t.Run(name, func(t *testing.T) {
			newAskEnv(t, askPlan, 0)
			t.Setenv("AGENT_MAX_PLAN_TOKENS", "12")
			out, errOut, code := runAgent(t, "", "ask", "--model", filepath.Join(askFixtures, "gptq", name),
				"--tokenizer", tok, "--constrain=false", "--json", "Who won the Nobel Prize in Literature in 2020?")
			if code != 1 || !strings.Contains(errOut, "cannot be run") {
				t.Errorf("exit %d; want 1 with the plan's diagnostics:\n%s", code, errOut)
			}
			if !strings.Contains(errOut, "loading ") {
				t.Errorf("no loading progress on stderr:\n%s", errOut)
			}
			var tr struct {
				Plan        string   `json:"plan"`
				Diagnostics []string `json:"diagnostics"`
				EngineCalls []struct {
					Purpose      string  `json:"purpose"`
					PromptTokens int     `json:"prompt_tokens"`
					Tokens       int     `json:"tokens"`
					PromptS      float64 `json:"prompt_s"`
					TokensPerS   float64 `json:"tokens_per_s"`
					Stop         string  `json:"stop"`
				} `json:"engine_calls"`
			}
			if err := json.Unmarshal([]byte(out), &tr); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if len(tr.EngineCalls) != 2 || tr.EngineCalls[1].Purpose != "repair" { // the plan and its one repair
				t.Fatalf("engine calls = %+v", tr.EngineCalls)
			}
			c := tr.EngineCalls[0]
			if c.Purpose != "plan" || c.Tokens != 12 || c.Stop != "length" || c.PromptTokens < 100 || c.PromptS <= 0 || c.TokensPerS <= 0 {
				t.Errorf("plan call = %+v", c)
			}
			if tr.Plan == "" || len(tr.Diagnostics) == 0 {
				t.Errorf("plan %q, diagnostics %q", tr.Plan, tr.Diagnostics)
			}
		})
	}
}

// TestAskLocalModelConstrained runs ask --plan-only on the tiny fixture
// checkpoints with the constraint on, as by default: the same random weights
// write a plan that validates, complete with its Answer line, for several
// seeds; planner.constrain: false in the config file turns it off again.
func TestAskLocalModelConstrained(t *testing.T) {
	tok := smallTokenizer(t, 1024)
	model := filepath.Join(askFixtures, "gptq", "tiny-4bit-128g-actorder")
	for _, seed := range []string{"0", "1", "2"} {
		t.Run("seed"+seed, func(t *testing.T) {
			newAskEnv(t, askPlan, 0)
			t.Setenv("AGENT_MAX_PLAN_TOKENS", "160")
			out, errOut, code := runAgent(t, "", "ask", "--model", model, "--tokenizer", tok, "--seed", seed,
				"--temperature", "1", "--plan-only", "--json", "Who won the Nobel Prize in Literature in 2020?")
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, errOut)
			}
			var tr struct {
				Plan        string `json:"plan"`
				EngineCalls []struct {
					Purpose string `json:"purpose"`
					Tokens  int    `json:"tokens"`
				} `json:"engine_calls"`
			}
			if err := json.Unmarshal([]byte(out), &tr); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			plan, err := planparser.Parse(tr.Plan, planparser.Options{})
			if err != nil || plan.Answer == nil {
				t.Fatalf("plan does not parse (%v) or has no answer:\n%s", err, tr.Plan)
			}
			if len(tr.EngineCalls) != 1 || tr.EngineCalls[0].Purpose != "plan" || tr.EngineCalls[0].Tokens > 160 {
				t.Fatalf("engine calls %+v, want the plan's alone within 160 tokens", tr.EngineCalls)
			}
		})
	}
	t.Run("config off", func(t *testing.T) {
		newAskEnv(t, askPlan, 0)
		file := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(file, []byte("planner:\n  constrain: false\n  max_plan_tokens: 12\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := runAgent(t, "", "ask", "--config", file, "--model", model, "--tokenizer", tok, "--plan-only", "Who won?")
		if code != 1 || !strings.Contains(errOut, "cannot be run") {
			t.Fatalf("exit %d; want 1, a plan written freely that cannot be run:\n%s", code, errOut)
		}
	})
}
