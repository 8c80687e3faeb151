package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

func TestRun(t *testing.T) {
	withTools(t, &tooltest.Slow{ToolName: "DuckDuckGo"}, &tooltest.Slow{ToolName: "KnowledgeModel"},
		&tooltest.Failing{ToolName: "Broken"})
	tests := []struct {
		name   string
		plan   string
		json   bool
		code   int
		out    string
		stderr []string
	}{
		{"answer", goodPlan, false, 0,
			"KnowledgeModel(Who won, given DuckDuckGo(Nobel Prize in Literature 2020 winner)?)\n",
			[]string{":evidence0: DuckDuckGo started", ":evidence1: finished in", "done: 2 ok; critical path :evidence0: -> :evidence1:"}},
		{"no citation prints all evidence", "#E1 = DuckDuckGo[a]\n#E2 = DuckDuckGo[b]\n", false, 0,
			"#E1 = DuckDuckGo(a)\n#E2 = DuckDuckGo(b)\n", []string{"done: 2 ok"}},
		{"failed citation", "#E1 = Broken[a]\n#E2 = KnowledgeModel[#E1]\nFinal answer: #E2\n", false, 1, "",
			[]string{"#E1 failed after", "#E2 skipped: depends on #E1, which failed",
				"the answer cites evidence that is missing: #E2 (skipped: depends on #E1, which failed)"}},
		{"invalid plan", "#E1 = Nope[a]\n", false, 1, "", []string{`1:7: unknown tool "Nope"`}},
		{"invalid plan, json", "#E1 = Nope[a]\n", true, 1,
			`{"plan":"#E1 = Nope[a]\n","diagnostics":["1:7: unknown tool \"Nope\" (available: Broken, DuckDuckGo, KnowledgeModel)"]}` + "\n",
			[]string{`1:7: unknown tool "Nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"run", writePlan(t, tt.plan)}
			if tt.json {
				args = append(args, "--json")
			}
			out, errOut, code := runAgent(t, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if out != tt.out {
				t.Errorf("stdout %q, want %q", out, tt.out)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	withTools(t, tools.Func{ToolName: "DuckDuckGo", Fn: echoWithSource}, &tooltest.Slow{ToolName: "KnowledgeModel"})
	out, errOut, code := runAgent(t, "", "run", "--json", writePlan(t, goodPlan))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The schema is ask --json's (planner.Trace): the same keys, in seconds.
	var trace struct {
		Plan string
		DAG  struct {
			Steps []struct{ Name string }
		}
		Steps []struct {
			Name, Tool, Input, State string
			ResolvedInput            string   `json:"resolved_input"`
			Sources                  []string `json:"sources"`
			Duration                 *float64 `json:"duration_s"`
			Bytes                    int      `json:"bytes"`
		}
		Answer *struct {
			Text   string
			Method string
		}
		Timings struct {
			Total        float64  `json:"total_s"`
			CriticalPath []string `json:"critical_path"`
		}
	}
	if err := json.Unmarshal([]byte(out), &trace); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(trace.DAG.Steps) != 2 || len(trace.Steps) != 2 || trace.Answer == nil || !strings.Contains(trace.Plan, ":evidence0: = DuckDuckGo[") {
		t.Fatalf("trace incomplete:\n%s", out)
	}
	e := trace.Steps[0]
	if e.Name != ":evidence0:" || e.State != "done" || e.Tool != "DuckDuckGo" || len(e.Sources) != 1 || e.Duration == nil || e.Bytes == 0 {
		t.Errorf("steps[0] = %+v", e)
	}
	if e := trace.Steps[1]; e.ResolvedInput != "Who won, given found Nobel Prize in Literature 2020 winner?" {
		t.Errorf("steps[1] = %+v", e)
	}
	if want := "KnowledgeModel(Who won, given found Nobel Prize in Literature 2020 winner?)"; trace.Answer.Text != want || trace.Answer.Method != "answer-line" {
		t.Errorf("answer %+v, want %q", trace.Answer, want)
	}
	if trace.Timings.Total <= 0 || len(trace.Timings.CriticalPath) != 2 {
		t.Errorf("timings %+v", trace.Timings)
	}
}

func echoWithSource(_ context.Context, req tools.Request) (tools.Output, error) {
	return tools.Output{Text: "found " + req.Input, Sources: []string{"https://example.org/"}}, nil
}

// TestRunKnowledgeModel runs a plan through the real tools: KnowledgeModel asks the
// server the configuration names, and a plan without it never contacts one.
func TestRunKnowledgeModel(t *testing.T) {
	e := newAskEnv(t, "", 0)
	plan := writePlan(t, "#E1 = DuckDuckGo[Nobel Prize in Literature 2020]\n#E2 = KnowledgeModel[Who won? Given #E1]\nAnswer: #E2\n")
	tests := []struct {
		name  string
		args  []string
		env   string
		calls int
	}{
		{"flag", []string{"run", "--llm-url", e.llm.URL, plan}, "", 1},
		{"environment", []string{"run", plan}, e.llm.URL, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AGENT_LLM_URL", tt.env)
			out, errOut, code := runAgent(t, "", tt.args...)
			if code != 0 || out != "Louise Glück won the 2020 Nobel Prize in Literature.\n" {
				t.Errorf("exit %d, stdout %q\n%s", code, out, errOut)
			}
			if n := len(e.eng.Calls()); n != tt.calls {
				t.Errorf("%d engine calls so far, want %d", n, tt.calls)
			}
		})
	}
	t.Run("no model needed", func(t *testing.T) {
		t.Setenv("AGENT_LLM_URL", "http://127.0.0.1:1")
		out, errOut, code := runAgent(t, "", "run", writePlan(t, "#E1 = DuckDuckGo[poets]\nAnswer: #E1\n"))
		if code != 0 || !strings.Contains(out, "American poets") {
			t.Errorf("exit %d, stdout %q\n%s", code, out, errOut)
		}
	})
}

// TestRunTakesResolverSettingsFromConfig: run's step time limit and retries are
// the configuration's (planner.step_timeout, planner.retries), from --config.
func TestRunTakesResolverSettingsFromConfig(t *testing.T) {
	cleanEnv(t)
	withTools(t, &tooltest.Slow{ToolName: "DuckDuckGo", Delay: 30 * time.Second})
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("planner:\n  step_timeout: 50ms\n  retries: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ := runAgent(t, "", "run", writePlan(t, "#E1 = DuckDuckGo[a]\n"), "--config", cfg)
	if !strings.Contains(errOut, "step timed out after 50ms") || strings.Contains(errOut, "retrying") {
		t.Errorf("stderr:\n%s\nwant #E1 to fail at the 50ms limit, once", errOut)
	}
}
