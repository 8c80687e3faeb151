package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// runAgent runs the command line with args and stdin, returning stdout, stderr and
// the exit code main would use.
func runAgent(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), stdio{strings.NewReader(stdin), &out, &errb}, args)
	code := 0
	if err != nil {
		code = 1
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errSilent) {
			errb.WriteString(err.Error())
		}
	}
	return out.String(), errb.String(), code
}

// withTools makes the configured registry hold ts for the test.
func withTools(t *testing.T, ts ...tools.Tool) {
	t.Helper()
	old := loadTools
	t.Cleanup(func() { loadTools = old })
	loadTools = func(context.Context, *configs.Config, engine.LLM) (*tools.Registry, error) {
		return tools.NewRegistry(ts...)
	}
}

func writePlan(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.txt")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodPlan = `Here is the plan.
Plan: Search.
:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]
Plan: Interpret.
:evidence1: = KnowledgeModel[Who won, given :evidence0:?]
Answer: :evidence1:
`

func TestPlanCheck(t *testing.T) {
	withTools(t, &tooltest.Slow{ToolName: "DuckDuckGo"}, &tooltest.Slow{ToolName: "KnowledgeModel"})
	good := writePlan(t, goodPlan)
	bad := writePlan(t, ":evidence0: = DuckDuckGoo[x]\n:evidence1: = KnowledgeModel[:evidence3:]\n")
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"valid", "", []string{"plan", "check", good}, 0, "ok: 2 steps in 2 levels, answer cites :evidence1:\n", ""},
		{"stdin", goodPlan, []string{"plan", "check", "-"}, 0, "ok: 2 steps", ""},
		{"json", "", []string{"plan", "check", "--json", good}, 0,
			`{"steps":[{"name":":evidence0:","tool":"DuckDuckGo","input":"Nobel Prize in Literature 2020 winner","deps":[],"line":3},` +
				`{"name":":evidence1:","tool":"KnowledgeModel","input":"Who won, given :evidence0:?","deps":[":evidence0:"],"line":5}],` +
				`"answer":{"refs":[":evidence1:"],"text":":evidence1:"}}` + "\n", ""},
		{"flags after file", "", []string{"plan", "check", good, "--json"}, 0, `{"steps":`, ""},
		{"invalid", "", []string{"plan", "check", bad}, 1, "",
			"1:15: unknown tool \"DuckDuckGoo\" (did you mean \"DuckDuckGo\"?)\n2:30: reference to undefined evidence :evidence3:\n"},
		{"invalid json", "", []string{"plan", "check", bad, "--json"}, 1,
			`{"plan":":evidence0: = DuckDuckGoo[x]\n:evidence1: = KnowledgeModel[:evidence3:]\n","diagnostics":[` +
				`"1:15: unknown tool \"DuckDuckGoo\" (did you mean \"DuckDuckGo\"?)","2:30: reference to undefined evidence :evidence3:"]}` + "\n",
			"1:15: unknown tool"},
		{"tools flag overrides", "", []string{"plan", "check", "--tools", "Search, KnowledgeModel", good}, 1, "",
			`3:15: unknown tool "DuckDuckGo"`},
		{"no file", "", []string{"plan", "check"}, 2, "", "want one plan file"},
		{"missing file", "", []string{"plan", "check", filepath.Join(t.TempDir(), "none")}, 1, "", "no such file"},
		{"no subcommand", "", []string{"plan"}, 2, "", "need a subcommand"},
		{"bad subcommand", "", []string{"plan", "lint", good}, 2, "", `unknown subcommand "lint"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runAgent(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if !strings.HasPrefix(out, tt.out) || (tt.out == "" && out != "") {
				t.Errorf("stdout %q, want prefix %q", out, tt.out)
			}
			if !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr %q, want %q", errOut, tt.err)
			}
		})
	}
}

func TestPlanCheckJSONAnswerNull(t *testing.T) {
	path := writePlan(t, "#E1 = A[x]\n")
	out, errOut, code := runAgent(t, "", "plan", "check", "--tools", "A", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if a, ok := got["answer"]; !ok || a != nil {
		t.Errorf("answer = %v, want null", a)
	}
}

func TestPlanDot(t *testing.T) {
	out, errOut, code := runAgent(t, "", "plan", "dot", writePlan(t, goodPlan))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"digraph plan {", `":evidence0:" -> ":evidence1:";`, `":evidence1:" -> "answer";`} {
		if !strings.Contains(out, want) {
			t.Errorf("DOT lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := runAgent(t, "", "plan", "dot", writePlan(t, "#E1 = A[x")); code != 1 || !strings.Contains(errOut, `1:8: unclosed "["`) {
		t.Errorf("broken plan: exit %d, stderr %q", code, errOut)
	}
}
