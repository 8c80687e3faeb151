package server

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/rewoo-agent/agent/engine"
)

// fakeLLM is a scripted engine: it answers a prompt with reply(prompt), one piece
// per token, honouring MaxTokens and ctx as the real generator does (stop strings
// are the server's to match). It records what it was asked.
type fakeLLM struct {
	reply func(prompt string) []string
	gate  chan struct{} // when set, a call waits for it to close before its first piece
	// hold, when > 0, makes a call emit that many pieces, whatever happens to its
	// ctx meanwhile, then block until its ctx ends; the cause goes to cancelled.
	hold      int
	cancelled chan error
	started   chan struct{} // when set, gets a value as each call starts

	mu      sync.Mutex
	reqs    []engine.Request
	ids     [][]int
	running int
	peak    int // the most calls running at once
}

var (
	_ engine.LLM  = (*fakeLLM)(nil)
	_ IDGenerator = (*fakeLLM)(nil)
)

// echo replies "you said: PROMPT" in pieces of one word.
func echo(prompt string) []string {
	var out []string
	for i, w := range strings.Fields("you said: " + prompt) {
		if i > 0 {
			w = " " + w
		}
		out = append(out, w)
	}
	return out
}

func (f *fakeLLM) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.generate(ctx, req, len(req.Prompt), onText)
}

func (f *fakeLLM) GenerateIDs(ctx context.Context, prompt []int, req engine.Request, onText func(string) error) (engine.Result, []int, error) {
	f.mu.Lock()
	f.ids = append(f.ids, prompt)
	f.mu.Unlock()
	req.Prompt = fmt.Sprint(prompt)
	res, err := f.generate(ctx, req, len(prompt), onText)
	return res, nil, err
}

func (f *fakeLLM) generate(ctx context.Context, req engine.Request, promptTokens int, onText func(string) error) (engine.Result, error) {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if f.started != nil {
		f.started <- struct{}{}
	}
	res := engine.Result{PromptTokens: promptTokens, Stop: engine.StopEOS}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	var text strings.Builder
	for i, piece := range f.reply(req.Prompt) {
		if req.MaxTokens > 0 && i == req.MaxTokens {
			res.Stop = engine.StopLength
			break
		}
		if f.hold > 0 && i == f.hold {
			<-ctx.Done()
			f.cancelled <- context.Cause(ctx)
			return res, ctx.Err()
		}
		res.Tokens++
		text.WriteString(piece)
		res.Text = text.String()
		if err := onText(piece); err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil && f.hold == 0 {
			return res, err
		}
	}
	return res, nil
}

// requests returns the calls' requests so far.
func (f *fakeLLM) requests() []engine.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Request(nil), f.reqs...)
}

// textOnly hides the fake's GenerateIDs.
type textOnly struct{ engine.LLM }
