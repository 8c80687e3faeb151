package planner

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
)

// EngineCall is the record of one generation: what asked for it, how many tokens went
// in and came out, and how fast.
type EngineCall struct {
	// Purpose names the caller: "plan", "repair" (the plan again, after its
	// diagnostics), "replan" (a new plan after steps failed), "answer", or
	// "tool NAME" for a tool's call.
	Purpose string `json:"purpose"`
	// Step is the plan step whose tool made the call, and Attempt which of its
	// tries (1 the first); both empty for the plan and the answer.
	Step    string  `json:"step,omitempty"`
	Attempt int     `json:"attempt,omitempty"`
	Start   float64 `json:"start_s"` // seconds since the question's run began
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

// withPurpose labels the engine calls made under ctx that no tool call makes:
// "plan", "repair", "replan" and "answer".
func withPurpose(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, purposeKey{}, name)
}

// Recorded returns llm with its calls recorded in the trace of the question
// they are made for: the planner's own (the plan) and those of the tools it
// runs (KnowledgeModel and other tools over the engine), each call found by its
// context, so questions answered side by side share one engine and each keeps
// its own record. Calls made outside Ask and Run go straight to llm. The LLM
// implements engine.TokenCounter exactly when llm does.
func Recorded(llm engine.LLM) engine.LLM {
	r := recorded{llm}
	if tc, ok := llm.(engine.TokenCounter); ok {
		return countingRecorded{r, tc}
	}
	return r
}

type recorded struct{ llm engine.LLM }

// isRecorded reports whether llm comes from Recorded.
func isRecorded(llm engine.LLM) bool {
	switch llm.(type) {
	case recorded, countingRecorded:
		return true
	}
	return false
}

type countingRecorded struct {
	recorded
	engine.TokenCounter
}

var (
	_ engine.LLM          = recorded{}
	_ engine.TokenCounter = countingRecorded{}
)

func (r recorded) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	if rec, ok := ctx.Value(recorderKey{}).(*recorder); ok {
		return rec.generate(ctx, r.llm, req, onText)
	}
	return r.llm.Generate(ctx, req, onText)
}

type recorderKey struct{}

// withRecorder returns a context under which the calls through a Recorded LLM
// go to rec.
func withRecorder(ctx context.Context, rec *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, rec)
}

// recorder holds the engine calls of one question, in the order they started;
// it takes each from the question's budget and traces it in a span.
type recorder struct {
	epoch    time.Time
	spend    *spend
	tracer   trace.Tracer
	model    string
	payloads bool
	// onText, when set, gives for each call a function that sees its text
	// (nil: none).
	onText func(EngineCall) func(string)

	mu    sync.Mutex
	calls []EngineCall
	ended []bool
}

func newRecorder(epoch time.Time, sp *spend, tr trace.Tracer, model string, payloads bool) *recorder {
	return &recorder{epoch: epoch, spend: sp, tracer: tr, model: model, payloads: payloads}
}

// generate calls llm and records the call in the slot it took when it began, so
// the record's order does not depend on which call ends first.
func (r *recorder) generate(ctx context.Context, llm engine.LLM, req engine.Request, onText func(string) error) (engine.Result, error) {
	c := EngineCall{Start: time.Since(r.epoch).Seconds()}
	if ci, ok := tools.CallInfoFrom(ctx); ok {
		c.Purpose, c.Step, c.Attempt = "tool "+ci.Tool, ci.Step, ci.Attempt
	} else {
		c.Purpose, _ = ctx.Value(purposeKey{}).(string)
	}
	maxTokens, err := r.spend.engineCall(req.MaxTokens)
	if err != nil {
		return engine.Result{}, err
	}
	req.MaxTokens = maxTokens
	r.mu.Lock()
	slot := len(r.calls)
	r.calls = append(r.calls, c)
	r.ended = append(r.ended, false)
	r.mu.Unlock()

	ctx, span := r.span(ctx, c, req)
	if r.onText != nil {
		if see := r.onText(c); see != nil {
			inner := onText
			onText = func(text string) error {
				see(text)
				return inner(text)
			}
		}
	}
	res, err := llm.Generate(ctx, req, onText)
	r.spend.tokensUsed(res.PromptTokens + res.Tokens)
	r.endSpan(span, res, err)
	c.PromptTokens, c.Tokens = res.PromptTokens, res.Tokens
	c.PromptSeconds, c.GenSeconds = res.PromptTime.Seconds(), res.GenTime.Seconds()
	c.TokensPerSecond, c.Stop = res.TokensPerSecond(), string(res.Stop)
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
	r.calls[slot], r.ended[slot] = c, true
	r.mu.Unlock()
	return res, err
}

// Calls returns the calls that have ended, in the order they started.
func (r *recorder) Calls() []EngineCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []EngineCall{}
	for i, c := range r.calls {
		if r.ended[i] {
			out = append(out, c)
		}
	}
	return out
}

// span starts the span of an engine call, named and labelled after the GenAI
// semantic conventions.
func (r *recorder) span(ctx context.Context, c EngineCall, req engine.Request) (context.Context, trace.Span) {
	name := "text_completion"
	if r.model != "" {
		name += " " + r.model
	}
	ctx, span := r.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "text_completion"),
		attribute.String("gen_ai.request.model", r.model),
		attribute.Int("gen_ai.request.max_tokens", req.MaxTokens),
		attribute.Float64("gen_ai.request.temperature", float64(req.Sampling.Temperature)),
		attribute.String("agent.purpose", c.Purpose),
	))
	if c.Step != "" {
		span.SetAttributes(attribute.String("agent.step", c.Step), attribute.Int("agent.attempt", c.Attempt))
	}
	if r.payloads {
		span.SetAttributes(attribute.String("gen_ai.input.messages", req.Prompt))
	}
	return ctx, span
}

func (r *recorder) endSpan(span trace.Span, res engine.Result, err error) {
	defer span.End()
	span.SetAttributes(
		attribute.Int("gen_ai.usage.input_tokens", res.PromptTokens),
		attribute.Int("gen_ai.usage.output_tokens", res.Tokens),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{string(res.Stop)}),
	)
	if r.payloads {
		span.SetAttributes(attribute.String("gen_ai.output.messages", res.Text))
	}
	if err != nil && !errors.Is(err, errPlanComplete) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}
