package funcall

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
)

func weatherRegistry(t *testing.T) *tools.Registry {
	t.Helper()
	reg, err := tools.NewRegistry(tools.Func{ToolName: "Weather", Desc: "The weather of a place.",
		Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
			if req.Input == "Atlantis" {
				return tools.Output{}, errors.New("no such place")
			}
			return tools.Output{Text: "sunny in " + req.Input, Sources: []string{"https://w.example/" + req.Input}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// answers is an Answerer that gives its texts in turn and records the prompts.
type answers struct {
	texts   []string
	prompts []string
}

func (a *answers) answer(_ context.Context, prompt string) (string, error) {
	a.prompts = append(a.prompts, prompt)
	if len(a.texts) == 0 {
		return "", errors.New("no more answers")
	}
	t := a.texts[0]
	a.texts = a.texts[1:]
	return t, nil
}

func TestChoose(t *testing.T) {
	const good = `{"function": "Weather", "params": {"input": "Paris"}}`
	tests := []struct {
		name    string
		texts   []string
		asked   int
		err     error
		errText string
	}{
		{"valid at once", []string{good}, 1, nil, ""},
		{"repaired", []string{`{"function": "Wether", "params": {"input": "Paris"}}`, good}, 2, nil, ""},
		{"invalid twice", []string{"nonsense", "more nonsense"}, 2, ErrNoCall, "repaired answer: more nonsense"},
		{"answerer fails", nil, 1, nil, "call: no more answers"},
		{"repair fails", []string{"nonsense"}, 2, nil, `call: repairing "nonsense"`},
	}
	reg := weatherRegistry(t)
	set, err := ForTools(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &answers{texts: append([]string(nil), tt.texts...)}
			var rec Record
			err := set.Choose(t.Context(), a.answer, "Weather in Paris?", JSON, &rec)
			if len(a.prompts) != tt.asked || len(rec.Answers) != tt.asked {
				t.Errorf("asked %d times, %d answers recorded; want %d", len(a.prompts), len(rec.Answers), tt.asked)
			}
			if tt.asked == 2 && !strings.Contains(a.prompts[1], "It was rejected:") {
				t.Errorf("the repair prompt says not what was wrong:\n%s", a.prompts[1])
			}
			if tt.err == nil && tt.errText == "" {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Function != "Weather" || rec.Tool != "Weather" || rec.Input != "Paris" || rec.Call().String() == "" {
					t.Errorf("record %+v", rec)
				}
				return
			}
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("err = %v, want %v saying %q", err, tt.err, tt.errText)
			}
		})
	}
}

func TestForToolsUnknownTool(t *testing.T) {
	_, err := ForTools(weatherRegistry(t), Function{Name: "f", Description: "d", Tool: "Nope"})
	if !errors.Is(err, tools.ErrUnknownTool) || !strings.Contains(err.Error(), `function "f"`) || !strings.Contains(err.Error(), "the tools are Weather") {
		t.Errorf("err = %v", err)
	}
}

func TestRun(t *testing.T) {
	reg := weatherRegistry(t)
	rec := Record{Tool: "Weather", Input: "Paris"}
	if err := Run(t.Context(), reg, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Result == nil || rec.Result.Text != "sunny in Paris" || len(rec.Result.Sources) != 1 {
		t.Errorf("result %+v", rec.Result)
	}
	rec = Record{Tool: "Weather", Input: "Atlantis"}
	if err := Run(t.Context(), reg, &rec); err == nil || err.Error() != "Weather[Atlantis]: no such place" || rec.Result != nil {
		t.Errorf("err = %v, result %+v", err, rec.Result)
	}
	rec = Record{Tool: "Nope"}
	if err := Run(t.Context(), reg, &rec); !errors.Is(err, tools.ErrUnknownTool) {
		t.Errorf("err = %v, want ErrUnknownTool", err)
	}
}

// fakeLLM answers every request with text and keeps the last request.
type fakeLLM struct {
	text string
	last engine.Request
}

func (f *fakeLLM) Generate(_ context.Context, req engine.Request, _ func(string) error) (engine.Result, error) {
	f.last = req
	return engine.Result{Text: f.text, Tokens: 3}, nil
}

func TestUnconstrained(t *testing.T) {
	for _, tt := range []struct{ max, want int }{{0, UnconstrainedTokens}, {7, 7}} {
		llm := &fakeLLM{text: "answer"}
		var reported engine.Result
		got, err := Unconstrained(llm, engine.Sampling{Seed: 5}, tt.max, func(r engine.Result) { reported = r })(t.Context(), "P")
		if err != nil || got != "answer" || reported.Tokens != 3 {
			t.Errorf("%q, %v, reported %+v", got, err, reported)
		}
		if llm.last.Prompt != "P" || llm.last.MaxTokens != tt.want || llm.last.Sampling.Seed != 5 || len(llm.last.Stop) == 0 {
			t.Errorf("max %d: request %+v", tt.max, llm.last)
		}
	}
}

func TestResultWriteText(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"text only", Result{Text: "42\n\n"}, "42\n"},
		{"sources", Result{Text: "Paris", Sources: []string{"a.md", "https://b"}}, "Paris\n\nSources:\n  [1] a.md\n  [2] https://b\n"},
		{"empty", Result{}, "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
