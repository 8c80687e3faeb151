// Package plannertest provides a scripted engine for tests of the planner and of the
// commands built on it: a fake engine.LLM that writes given replies token by token,
// slowly, and the same script served as an OpenAI-compatible completions endpoint.
package plannertest

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/stop"
)

// Reply is one scripted answer: the first Reply whose Match occurs in a prompt is
// written back ("" matches every prompt).
type Reply struct {
	Match string
	Text  string
}

// Call records one generation the engine served.
type Call struct {
	Request engine.Request
	Reply   string // the text written, after stop strings and limits
	Start   time.Time
	End     time.Time
	Err     error
}

// Engine is a scripted engine.LLM. It writes the matching reply one token (a word
// with its leading space, or a run of newlines) at a time, waiting Delay before each,
// and honours stop strings, MaxTokens, cancellation and errors from onText as a real
// engine does. It is safe for concurrent use.
type Engine struct {
	Replies []Reply
	Delay   time.Duration
	// Hold, when set, keeps every token back until it is closed (or the call's
	// context ends): a test can stop a caller mid-generation whatever the machine's
	// speed.
	Hold chan struct{}
	// Context is the reported context length; 0 means 4096.
	Context int

	mu    sync.Mutex
	calls []Call
}

var (
	_ engine.LLM          = (*Engine)(nil)
	_ engine.TokenCounter = (*Engine)(nil)
)

// tokenRE splits text into the pieces the fake writes: newlines alone, otherwise a
// word with the spaces before it.
var tokenRE = regexp.MustCompile(`\n|[ \t\r]*[^ \t\r\n]+|[ \t\r]+`)

// Tokens splits text the way the scripted engine writes it.
func Tokens(text string) []string { return tokenRE.FindAllString(text, -1) }

// CountTokens counts the pieces Tokens would give.
func (e *Engine) CountTokens(text string) (int, error) { return len(Tokens(text)), nil }

// ContextLength is the configured context, 4096 by default.
func (e *Engine) ContextLength() int {
	if e.Context > 0 {
		return e.Context
	}
	return 4096
}

// Calls returns the generations served so far, in the order they started.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

func (e *Engine) reply(prompt string) string {
	for _, r := range e.Replies {
		if strings.Contains(prompt, r.Match) {
			return r.Text
		}
	}
	return ""
}

// Generate writes the reply that matches req.Prompt.
func (e *Engine) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	e.mu.Lock()
	i := len(e.calls)
	e.calls = append(e.calls, Call{Request: req, Start: time.Now()})
	e.mu.Unlock()

	res, err := e.generate(ctx, req, onText)

	e.mu.Lock()
	e.calls[i].Reply, e.calls[i].End, e.calls[i].Err = res.Text, time.Now(), err
	e.mu.Unlock()
	return res, err
}

func (e *Engine) generate(ctx context.Context, req engine.Request, onText func(string) error) (res engine.Result, err error) {
	res = engine.Result{PromptTokens: len(Tokens(req.Prompt)), Stop: engine.StopEOS}
	if res.PromptTokens >= e.ContextLength() {
		return res, engine.ErrContextLength
	}
	m, err := stop.New(req.Stop)
	if err != nil {
		return res, err
	}
	genStart := time.Now()
	defer func() {
		res.Text = m.Text()
		res.GenTime = time.Since(genStart)
	}()
	for _, tok := range Tokens(e.reply(req.Prompt)) {
		if req.MaxTokens > 0 && res.Tokens == req.MaxTokens {
			res.Stop = engine.StopLength
			break
		}
		if err := e.wait(ctx); err != nil {
			return res, err
		}
		res.Tokens++
		out, stopped := m.Add(tok)
		if out != "" {
			if err := onText(out); err != nil {
				return res, err
			}
		}
		if stopped {
			res.Stop = engine.StopString
			return res, nil
		}
	}
	if out := m.Flush(); out != "" {
		return res, onText(out)
	}
	return res, nil
}

// wait sleeps Delay, or returns early with ctx's error.
func (e *Engine) wait(ctx context.Context) error {
	if e.Hold != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.Hold:
		}
	}
	if e.Delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(e.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
