package planner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// EngineCall is the record of one generation: what asked for it, how many tokens went
// in and came out, and how fast.
type EngineCall struct {
	// Purpose names the caller: "plan", "answer", or "tool NAME" for a tool's call.
	Purpose string `json:"purpose"`
	// Input is the raw input of the tool step that made the call, if a tool did.
	Input string `json:"input,omitempty"`
	// Step is the plan step whose tool made the call, when the planner knows it.
	Step  string  `json:"step,omitempty"`
	Start float64 `json:"start_s"` // seconds since the recorder was made
	// PromptTokens is 0 where the engine did not say, such as a remote server
	// whose stream the planner cut at the Answer line, before its usage report.
	PromptTokens    int     `json:"prompt_tokens"`
	Tokens          int     `json:"tokens"`
	PromptSeconds   float64 `json:"prompt_s"`
	GenSeconds      float64 `json:"gen_s"`
	TokensPerSecond float64 `json:"tokens_per_s"`
	PromptPerSecond float64 `json:"prompt_tokens_per_s"`
	Stop            string  `json:"stop,omitempty"`
	Error           string  `json:"error,omitempty"`
}

type purposeKey struct{}

type purpose struct{ name, input string }

// WithPurpose labels the engine calls made under ctx, so a Recorder can say who made
// them; input is the tool step's raw input, or "".
func WithPurpose(ctx context.Context, name, input string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose{name, input})
}

// Recorder wraps an engine.LLM and records every call made through it.
type Recorder struct {
	llm   engine.LLM
	epoch time.Time

	mu    sync.Mutex
	calls []EngineCall
}

// countingRecorder keeps the wrapped engine's TokenCounter visible to callers that
// look for it by type assertion.
type countingRecorder struct {
	*Recorder
	engine.TokenCounter
}

var (
	_ engine.LLM          = (*Recorder)(nil)
	_ engine.TokenCounter = countingRecorder{}
)

// Record wraps llm. The returned LLM implements engine.TokenCounter exactly when llm
// does; the Recorder reads back the calls.
func Record(llm engine.LLM) (engine.LLM, *Recorder) {
	r := &Recorder{llm: llm, epoch: time.Now()}
	if tc, ok := llm.(engine.TokenCounter); ok {
		return countingRecorder{r, tc}, r
	}
	return r, r
}

// Generate calls the wrapped engine and records the call.
func (r *Recorder) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	start := time.Now()
	res, err := r.llm.Generate(ctx, req, onText)
	p, _ := ctx.Value(purposeKey{}).(purpose)
	c := EngineCall{
		Purpose:         p.name,
		Input:           p.input,
		Start:           start.Sub(r.epoch).Seconds(),
		PromptTokens:    res.PromptTokens,
		Tokens:          res.Tokens,
		PromptSeconds:   res.PromptTime.Seconds(),
		GenSeconds:      res.GenTime.Seconds(),
		TokensPerSecond: res.TokensPerSecond(),
		Stop:            string(res.Stop),
	}
	if c.PromptSeconds > 0 {
		c.PromptPerSecond = float64(c.PromptTokens) / c.PromptSeconds
	}
	switch {
	case errors.Is(err, errPlanComplete):
		// The planner ended the generation itself, at the Answer line.
		c.Stop = StopAnswerLine
	case err != nil:
		c.Error = err.Error()
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return res, err
}

// Calls returns the calls recorded so far, in the order they finished.
func (r *Recorder) Calls() []EngineCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]EngineCall(nil), r.calls...)
}
