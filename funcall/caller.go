package funcall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/tools"
)

// Answerer writes one answer to a prompt.
type Answerer func(ctx context.Context, prompt string) (string, error)

// ErrNoCall is returned when neither the answer nor its repair is a valid call.
var ErrNoCall = errors.New("the model did not answer with a valid call")

// UnconstrainedTokens bounds an answer written without the constraint when no
// limit is given.
const UnconstrainedTokens = 512

// ForTools is the set of the functions of reg's tools, with extra ones added
// (or replacing a tool's). Every function must map onto a tool of reg.
func ForTools(reg *tools.Registry, extra ...Function) (*Set, error) {
	set, err := NewSet(FromTools(reg.All(), extra...)...)
	if err != nil {
		return nil, err
	}
	for _, f := range set.Functions() {
		if tool := cmp.Or(f.Tool, f.Name); !reg.Has(tool) {
			return nil, fmt.Errorf("function %q: %w %q (the tools are %s)", f.Name, tools.ErrUnknownTool, tool, strings.Join(reg.Names(), ", "))
		}
	}
	return set, nil
}

// Constrained is an Answerer that decodes with model under the constraint that
// admits only valid JSON calls of s (see Generate), the prompt encoded by ids
// (generate.Generator.PromptIDs). report, if not nil, gets each decoding.
func (s *Set) Constrained(model engine.Model, tok *tokenizer.Tokenizer, ids func(string) []int, sampling engine.Sampling, maxTokens int, report func(Decoded)) Answerer {
	masker := NewMasker(NewAutomaton(s, DefaultLimits), TokenizerVocab(tok))
	return func(ctx context.Context, prompt string) (string, error) {
		d, err := Generate(ctx, model, masker, ids(prompt), sampling, maxTokens)
		if report != nil {
			report(d)
		}
		return d.Text, err
	}
}

// Unconstrained is an Answerer that asks llm freely, stopping at the chat
// template's stops, for maxTokens tokens at most (0: UnconstrainedTokens).
// report, if not nil, gets each successful result.
func Unconstrained(llm engine.LLM, sampling engine.Sampling, maxTokens int, report func(engine.Result)) Answerer {
	limit := cmp.Or(maxTokens, UnconstrainedTokens)
	return func(ctx context.Context, prompt string) (string, error) {
		res, err := llm.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: limit, Sampling: sampling, Stop: chat.Airoboros.Stops()}, nil)
		if err == nil && report != nil {
			report(res)
		}
		return res.Text, err
	}
}

// Record is a chosen call and its tool's run: what agent call --json prints.
type Record struct {
	Function string         `json:"function"`
	Params   map[string]any `json:"params"`
	Tool     string         `json:"tool"`
	Input    string         `json:"input"`
	Result   *Result        `json:"result,omitempty"` // absent until Run
	// Answers are the model's texts: the first, and the repaired one if any.
	Answers     []string `json:"answers"`
	Constrained bool     `json:"constrained"`
	Timings     struct {
		GenerateMS float64 `json:"generate_ms"`
		ToolMS     float64 `json:"tool_ms,omitempty"`
	} `json:"timings"`
}

// Result is what a tool returned.
type Result struct {
	Text    string   `json:"text"`
	Sources []string `json:"sources,omitempty"`
}

// WriteText writes the result's text, then its sources (numbered from 1) if
// it has any.
func (r *Result) WriteText(w io.Writer) error {
	text := strings.TrimRight(r.Text, "\n")
	if len(r.Sources) > 0 {
		text += "\n\nSources:"
		for i, s := range r.Sources {
			text += fmt.Sprintf("\n  [%d] %s", i+1, s)
		}
	}
	_, err := fmt.Fprintln(w, text)
	return err
}

// Call is the record's call.
func (r *Record) Call() Call { return Call{Function: r.Function, Params: r.Params} }

// Choose asks answer for a call of s that answers question in format (in the
// Airoboros template); an invalid answer goes back to the model once with what
// was wrong with it. It fills rec's call, tool, input, answers and generation
// time; the answers are recorded even when it fails.
func (s *Set) Choose(ctx context.Context, answer Answerer, question string, format Format, rec *Record) error {
	begin := time.Now()
	call, err := s.choose(ctx, answer, question, format, rec)
	rec.Timings.GenerateMS = ms(time.Since(begin))
	if err != nil {
		return err
	}
	tool, input, err := s.ToolInput(call)
	if err != nil {
		return err
	}
	rec.Function, rec.Params, rec.Tool, rec.Input = call.Function, call.Params, tool, input
	return nil
}

func (s *Set) choose(ctx context.Context, answer Answerer, question string, format Format, rec *Record) (Call, error) {
	prompt, err := s.Prompt(chat.Airoboros, question, format)
	if err != nil {
		return Call{}, fmt.Errorf("call: %w", err)
	}
	first, err := answer(ctx, prompt)
	rec.Answers = append(rec.Answers, first)
	if err != nil {
		return Call{}, fmt.Errorf("call: %w", err)
	}
	call, firstErr := s.Parse(first)
	if firstErr == nil {
		return call, nil
	}
	repair, err := s.Repair(question, format, first, firstErr)
	if err != nil {
		return Call{}, err
	}
	second, err := answer(ctx, chat.Airoboros.Prompt(repair))
	rec.Answers = append(rec.Answers, second)
	if err != nil {
		return Call{}, fmt.Errorf("call: repairing %q (%v): %w", strings.TrimSpace(first), firstErr, err)
	}
	call, secondErr := s.Parse(second)
	if secondErr != nil {
		return Call{}, fmt.Errorf("%w:\nfirst answer: %s\n  %v\nrepaired answer: %s\n  %v",
			ErrNoCall, strings.TrimSpace(first), firstErr, strings.TrimSpace(second), secondErr)
	}
	return call, nil
}

// Run runs the tool of the call Choose recorded, from reg, and records its
// result and time. An error names the tool and its input.
func Run(ctx context.Context, reg *tools.Registry, rec *Record) error {
	t, err := reg.Get(rec.Tool)
	if err != nil {
		return err
	}
	begin := time.Now()
	out, err := t.Call(ctx, tools.Request{Input: rec.Input, Raw: rec.Input})
	rec.Timings.ToolMS = ms(time.Since(begin))
	if err != nil {
		return fmt.Errorf("%s[%s]: %w", rec.Tool, rec.Input, err)
	}
	rec.Result = &Result{Text: out.Text, Sources: out.Sources}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
