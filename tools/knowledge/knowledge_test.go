package knowledge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/tools"
)

// fakeLLM records the request and answers with a fixed text.
type fakeLLM struct {
	answer string
	got    engine.Request
}

func (f *fakeLLM) Generate(_ context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	f.got = req
	if err := onText(f.answer); err != nil {
		return engine.Result{}, err
	}
	return engine.Result{Text: f.answer, Stop: engine.StopEOS}, nil
}

// wordLLM also counts tokens: one per whitespace-separated word.
type wordLLM struct {
	fakeLLM
	context int
}

func (w *wordLLM) CountTokens(s string) (int, error) { return len(strings.Fields(s)), nil }
func (w *wordLLM) ContextLength() int                { return w.context }

var _ engine.TokenCounter = (*wordLLM)(nil)

func TestQuestion(t *testing.T) {
	one := []tools.Cited{{Name: ":evidence1:"}}
	many := make([]tools.Cited, 11)
	for i := range many {
		many[i] = tools.Cited{Name: fmt.Sprintf("#E%d", i+1)}
	}
	tests := []struct {
		name string
		req  tools.Request
		want string
	}{
		{"one", tools.Request{Raw: "What color is the cat, given :evidence1:?", Cited: one}, "What color is the cat, given the input above?"},
		{"two", tools.Request{Raw: "Compare :evidence0: with\n:evidence2:.", Cited: []tools.Cited{{Name: ":evidence0:"}, {Name: ":evidence2:"}}},
			"Compare the first input with the second input."},
		{"E10 is not E1", tools.Request{Raw: "Use #E10 and #E1 and #E11.", Cited: many}, "Use the tenth input and the first input and input 11."},
		{"no raw", tools.Request{Input: "What is 2+2?"}, "What is 2+2?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Question(tt.req); got != tt.want {
				t.Errorf("Question = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCall(t *testing.T) {
	llm := &fakeLLM{answer: "  Louise Glück won it.\n"}
	m := &Model{LLM: llm, MaxTokens: 100}
	req := tools.Request{
		Raw:   "Who won the 2020 Nobel Prize in Literature, given :evidence1:?",
		Input: "Who won ..., given <text>?",
		Cited: []tools.Cited{{
			Name: ":evidence1:", Tool: "TextScraper", Text: "The prize went to Louise Glück.",
			Sources: []string{"https://www.nobelprize.org/a", "https://example.com/b"},
		}},
	}
	out, err := m.Call(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "Louise Glück won it." {
		t.Errorf("answer = %q", out.Text)
	}
	if fmt.Sprint(out.Sources) != "[https://www.nobelprize.org/a https://example.com/b]" {
		t.Errorf("sources = %v", out.Sources)
	}
	want := chat.Airoboros.Prompt("BEGININPUT\nBEGINCONTEXT\nurl: https://www.nobelprize.org/a, https://example.com/b\ntool: TextScraper\nENDCONTEXT\n" +
		"The prize went to Louise Glück.\nENDINPUT\nBEGININSTRUCTION\n" +
		"Who won the 2020 Nobel Prize in Literature, given the input above? Don't make up answers if you don't know.\nENDINSTRUCTION")
	if llm.got.Prompt != want {
		t.Errorf("prompt =\n%s\nwant\n%s", llm.got.Prompt, want)
	}
	if llm.got.MaxTokens != 100 || len(llm.got.Stop) == 0 || llm.got.Stop[0] != "USER:" {
		t.Errorf("request = %+v", llm.got)
	}
}

func TestCallErrors(t *testing.T) {
	req := tools.Request{Raw: "Why?", Input: "Why?"}
	if _, err := (&Model{}).Call(context.Background(), req); !errors.Is(err, chat.ErrNoLLM) {
		t.Errorf("no LLM: err = %v", err)
	}
	if _, err := (&Model{LLM: &fakeLLM{answer: " \n"}}).Call(context.Background(), req); err == nil || !strings.Contains(err.Error(), "empty answer") {
		t.Errorf("empty answer: err = %v", err)
	}
	if _, err := (&Model{LLM: &fakeLLM{answer: "x"}}).Call(context.Background(), tools.Request{}); err == nil {
		t.Error("empty question accepted")
	}
	long := tools.Request{Raw: strings.Repeat("word ", 300), Cited: []tools.Cited{{Name: "x", Text: "t"}}}
	if _, err := (&Model{LLM: &wordLLM{context: 256}, MaxTokens: 64}).Call(context.Background(), long); err == nil || !strings.Contains(err.Error(), "leaves no room") {
		t.Errorf("question too long: err = %v", err)
	}
}

func words(prefix string, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return strings.Join(w, " ")
}

func TestPromptFitsContext(t *testing.T) {
	llm := &wordLLM{context: 600}
	m := &Model{LLM: llm, MaxTokens: 100}
	req := tools.Request{
		Raw: "Summarize #E1, #E2 and #E3.",
		Cited: []tools.Cited{
			{Name: "#E1", Tool: "TextScraper", Text: words("a", 1000), Sources: []string{"https://a.example/"}},
			{Name: "#E2", Tool: "DuckDuckGo", Text: words("b", 50), Sources: []string{"https://b.example/"}},
			{Name: "#E3", Tool: "TextScraper", Text: words("c", 1000), Sources: []string{"https://c.example/"}},
		},
	}
	p, err := m.Prompt(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := llm.CountTokens(p)
	if n+m.MaxTokens > llm.context {
		t.Errorf("prompt has %d tokens: with %d to answer it overflows %d", n, m.MaxTokens, llm.context)
	}
	if n+m.MaxTokens < llm.context-40 {
		t.Errorf("prompt has %d tokens: it wastes the context", n)
	}
	// The short source is whole; the long ones keep their heads, equally long.
	if !strings.Contains(p, words("b", 50)+"\nENDINPUT") {
		t.Error("the short source was cut")
	}
	for _, prefix := range []string{"a", "c"} {
		if !strings.Contains(p, "\n"+prefix+"0 "+prefix+"1 ") || strings.Contains(p, prefix+"999") {
			t.Errorf("source %s: head not kept or tail not cut", prefix)
		}
	}
	a := len(regexp.MustCompile(`\ba\d+\b`).FindAllString(p, -1))
	c := len(regexp.MustCompile(`\bc\d+\b`).FindAllString(p, -1))
	if d := a - c; d < -2 || d > 2 {
		t.Errorf("long sources got %d and %d words, want equal shares", a, c)
	}
	if strings.Count(p, "[...]") != 2 {
		t.Errorf("want 2 cut markers, got %d", strings.Count(p, "[...]"))
	}

	// Without a token counter the byte estimate and ContextLength apply.
	est := &Model{LLM: &fakeLLM{}, MaxTokens: 100, ContextLength: 600}
	p, err = est.Prompt(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := (len(p) + 3) / 4; got+100 > 600 || got+100 < 560 {
		t.Errorf("estimated prompt size %d tokens, want just under 500", got)
	}
}

func ExampleModel_Prompt() {
	m := &Model{LLM: &fakeLLM{}}
	p, _ := m.Prompt(tools.Request{
		Raw:   "What color is the cat, given :evidence1:?",
		Cited: []tools.Cited{{Name: ":evidence1:", Tool: "TextScraper", Text: "The cat is black.", Sources: []string{"https://cats.example/"}}},
	})
	fmt.Println(strings.TrimPrefix(p, chat.AiroborosSystem+" "))
	// Output:
	// USER: BEGININPUT
	// BEGINCONTEXT
	// url: https://cats.example/
	// tool: TextScraper
	// ENDCONTEXT
	// The cat is black.
	// ENDINPUT
	// BEGININSTRUCTION
	// What color is the cat, given the input above? Don't make up answers if you don't know.
	// ENDINSTRUCTION ASSISTANT:
}
