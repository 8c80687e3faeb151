package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/tools"
)

// callEnv is a scripted model behind an OpenAI-compatible server and fake
// tools that record their inputs.
type callEnv struct {
	eng *plannertest.Engine
	url string

	mu     sync.Mutex
	inputs []string // "Tool[input]" of each tool call
}

func newCallEnv(t *testing.T, replies ...plannertest.Reply) *callEnv {
	t.Helper()
	cleanEnv(t)
	e := &callEnv{eng: &plannertest.Engine{Replies: replies}}
	srv := e.eng.NewServer()
	t.Cleanup(srv.Close)
	e.url = srv.URL
	fake := func(name, desc string) tools.Tool {
		return tools.Func{ToolName: name, Desc: desc, Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
			e.mu.Lock()
			e.inputs = append(e.inputs, name+"["+req.Input+"]")
			e.mu.Unlock()
			return tools.Output{Text: "sunny in " + req.Input, Sources: []string{"https://weather.example/" + req.Input}}, nil
		}}
	}
	withTools(t, fake("Weather", "The weather of a place."), fake("Search", "Searches the web."))
	return e
}

func (e *callEnv) toolInputs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.inputs...)
}

func TestCallRunsTheChosenTool(t *testing.T) {
	e := newCallEnv(t, plannertest.Reply{Text: ` {"function": "Weather", "params": {"input": "Paris"}}
USER: never read`})
	out, errOut, code := runAgent(t, "", "call", "--llm-url", e.url, "What is the weather in Paris?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if want := "sunny in Paris\n\nSources:\n  [1] https://weather.example/Paris\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if got := e.toolInputs(); len(got) != 1 || got[0] != "Weather[Paris]" {
		t.Errorf("tool calls %v", got)
	}
	calls := e.eng.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d engine calls, want 1", len(calls))
	}
	p := calls[0].Request.Prompt
	for _, s := range []string{
		"USER: As an AI assistant, please select the most suitable function and parameters from the list of available functions below, based on the user's input. Provide your response in JSON format.",
		"Input: What is the weather in Paris?",
		"Available functions:\nSearch:\n  description: Searches the web.\n  params:\n    input: (string, required) the input of Search\nWeather:",
		"ASSISTANT:",
	} {
		if !strings.Contains(p, s) {
			t.Errorf("prompt lacks %q:\n%s", s, p)
		}
	}
	if !strings.Contains(errOut, `call  {"function":"Weather","params":{"input":"Paris"}} → Weather[Paris]`) {
		t.Errorf("progress lacks the call:\n%s", errOut)
	}
}

func TestCallRepairsOnce(t *testing.T) {
	e := newCallEnv(t,
		plannertest.Reply{Match: "A previous answer was", Text: `{"function": "Weather", "params": {"input": "Oslo"}}`},
		plannertest.Reply{Text: `{"function": "Wether", "params": {"place": "Oslo"}}`},
	)
	out, errOut, code := runAgent(t, "", "call", "--llm-url", e.url, "--json", "Weather in Oslo?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	calls := e.eng.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d engine calls, want the answer and its repair", len(calls))
	}
	repair := calls[1].Request.Prompt
	for _, s := range []string{`unknown function "Wether" (did you mean "Weather"?)`, `{"function": "Wether", "params": {"place": "Oslo"}}`} {
		if !strings.Contains(repair, s) {
			t.Errorf("repair prompt lacks %q:\n%s", s, repair)
		}
	}
	var rec struct {
		Function string
		Params   map[string]any
		Tool     string
		Input    string
		Result   struct{ Text string }
		Answers  []string
		Timings  struct {
			GenerateMS *float64 `json:"generate_ms"`
		}
		Constrained bool
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rec.Function != "Weather" || rec.Params["input"] != "Oslo" || rec.Tool != "Weather" || rec.Input != "Oslo" ||
		rec.Result.Text != "sunny in Oslo" || len(rec.Answers) != 2 || rec.Timings.GenerateMS == nil || rec.Constrained {
		t.Errorf("record %+v", rec)
	}
}

func TestCallFailsAfterOneRepair(t *testing.T) {
	e := newCallEnv(t,
		plannertest.Reply{Match: "A previous answer was", Text: `{"function": "Weather", "params": {}}`},
		plannertest.Reply{Text: `I think the weather tool fits.`},
	)
	_, errOut, code := runAgent(t, "", "call", "--llm-url", e.url, "Weather in Oslo?")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	for _, s := range []string{"did not answer with a valid call", "first answer: I think the weather tool fits.",
		"repaired answer: {\"function\": \"Weather\", \"params\": {}}", `Weather: missing required param "input"`} {
		if !strings.Contains(errOut, s) {
			t.Errorf("error lacks %q:\n%s", s, errOut)
		}
	}
	if got := e.toolInputs(); len(got) != 0 {
		t.Errorf("tools ran: %v", got)
	}
}

func TestCallFunctionsFile(t *testing.T) {
	e := newCallEnv(t, plannertest.Reply{Text: "function: forecast\nparams:\n  city: Bergen\n  days: 3\n"})
	file := filepath.Join(t.TempDir(), "functions.yaml")
	yaml := `functions:
  - name: forecast
    description: The weather some days ahead.
    tool: Weather
    input: "{{.city}} in {{.days}} days"
    params:
      - {name: city, required: true, description: The city.}
      - {name: days, type: integer, required: true}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runAgent(t, "", "call", "--llm-url", e.url, "--functions", file, "--format", "yaml", "--dry-run", "Weather in Bergen in 3 days?")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if want := `{"function":"forecast","params":{"city":"Bergen","days":3}}` + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "→ Weather[Bergen in 3 days]") {
		t.Errorf("progress lacks the tool input:\n%s", errOut)
	}
	if got := e.toolInputs(); len(got) != 0 {
		t.Errorf("--dry-run ran tools: %v", got)
	}
	p := e.eng.Calls()[0].Request.Prompt
	if !strings.Contains(p, "forecast:\n  description: The weather some days ahead.\n  params:\n    city: (string, required) The city.\n    days: (integer, required) ") ||
		!strings.Contains(p, "in YAML format") {
		t.Errorf("prompt:\n%s", p)
	}
}

func TestCallUsage(t *testing.T) {
	e := newCallEnv(t)
	dir := t.TempDir()
	badTool := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badTool, []byte("functions:\n  - name: f\n    tool: Nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badYAML := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(badYAML, []byte("functions:\n  - name: f\n    parms: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"call", "Weather?"}, 2, "need exactly one of --model and --llm-url"},
		{[]string{"call", "--llm-url", e.url, "--format", "xml", "Weather?"}, 2, `--format "xml"`},
		{[]string{"call", "--llm-url", e.url, "--max-tokens", "-1", "Weather?"}, 2, "--max-tokens -1"},
		{[]string{"call", "--llm-url", e.url, "--functions", badTool, "Weather?"}, 2, `function "f": unknown tool "Nope"`},
		{[]string{"call", "--llm-url", e.url, "--functions", badYAML, "Weather?"}, 2, "field parms not found"},
		{[]string{"call", "--llm-url", e.url, "--functions", filepath.Join(dir, "missing.yaml"), "Weather?"}, 2, "functions file"},
		{[]string{"call", "--llm-url", e.url, " "}, 2, "no question"},
	}
	for _, tt := range tests {
		_, errOut, code := runAgent(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.says) {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", tt.args, code, errOut, tt.code, tt.says)
		}
	}
	if n := len(e.eng.Calls()); n != 0 {
		t.Errorf("usage errors reached the engine %d times", n)
	}
}

// TestCallLocalModelConstrained runs call on the tiny fixture checkpoint through
// the real engine: its weights are random, yet under the constraint it writes a
// valid call, at once (no repair), greedy and sampled.
func TestCallLocalModelConstrained(t *testing.T) {
	tok := smallTokenizer(t, 1024)
	e := newCallEnv(t)
	for _, temp := range []string{"0", "1.2"} {
		out, errOut, code := runAgent(t, "", "call", "--model", filepath.Join(askFixtures, "gptq", "tiny-4bit-128g-actorder"),
			"--tokenizer", tok, "--temperature", temp, "--seed", "3", "--dry-run", "--json", "What is the weather in Paris?")
		if code != 0 {
			t.Fatalf("temperature %s: exit %d\n%s", temp, code, errOut)
		}
		var rec struct {
			Function    string
			Params      map[string]any
			Answers     []string
			Constrained bool
		}
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, ok := rec.Params["input"].(string); !rec.Constrained || len(rec.Answers) != 1 || !ok ||
			(rec.Function != "Weather" && rec.Function != "Search") {
			t.Errorf("temperature %s: record %+v", temp, rec)
		}
	}
	if got := e.toolInputs(); len(got) != 0 {
		t.Errorf("--dry-run ran tools: %v", got)
	}
}

func TestCallTimeLimit(t *testing.T) {
	e := newCallEnv(t, plannertest.Reply{Text: `{"function": "Weather", "params": {"input": "Paris"}}`})
	e.eng.Delay = 50 * time.Millisecond
	t.Setenv("AGENT_TIMEOUT", "20ms")
	_, errOut, code := runAgent(t, "", "call", "--llm-url", e.url, "Weather in Paris?")
	if code != 1 || !strings.Contains(errOut, "ran out of time: the limit is 20ms") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	if got := e.toolInputs(); len(got) != 0 {
		t.Errorf("tools ran: %v", got)
	}
}
