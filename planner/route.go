package planner

import (
	"context"

	"github.com/rewoo-agent/agent/engine"
)

type recorderKey struct{}

// WithRecorder returns a context under which the engine calls made through an
// LLM from Routed go to r, which serves and records them.
func WithRecorder(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// Routed returns an LLM that hands each call to the Recorder its context carries
// (see WithRecorder), and calls llm directly under a context that carries none.
// Questions answered side by side share one engine and its tools this way while
// each keeps its own record of calls. The LLM implements engine.TokenCounter
// exactly when llm does.
func Routed(llm engine.LLM) engine.LLM {
	r := router{llm}
	if tc, ok := llm.(engine.TokenCounter); ok {
		return countingRouter{r, tc}
	}
	return r
}

type router struct{ llm engine.LLM }

type countingRouter struct {
	router
	engine.TokenCounter
}

var (
	_ engine.LLM          = router{}
	_ engine.TokenCounter = countingRouter{}
)

func (r router) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	if rec, ok := ctx.Value(recorderKey{}).(*Recorder); ok && rec != nil {
		return rec.Generate(ctx, req, onText)
	}
	return r.llm.Generate(ctx, req, onText)
}
