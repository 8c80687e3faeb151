package open

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// Lazy is an engine opened on first use, so commands whose work may never call
// the model (listing or calling tools, resolving a plan) pay nothing for it.
type Lazy struct {
	spec Spec

	loadMu sync.Mutex // held while the engine opens
	mu     sync.Mutex // guards what follows
	opened bool
	closed bool
	llm    engine.LLM
	close  func() error
	err    error

	light    sync.Once // the tokenizer and config.json, for counting before loading
	tok      *tokenizer.Tokenizer
	ctxLen   int
	lightErr error
}

// ErrClosed is returned by a Lazy used after Close.
var ErrClosed = errors.New("the engine is closed")

// NewLazy returns the engine s names, opened on first use; nil when s names
// none. It generates from text, so it needs the tokenizer: s.IDsOnly is
// ignored.
func NewLazy(s Spec) *Lazy {
	if s.Model == "" && s.URL == "" {
		return nil
	}
	s.IDsOnly = false
	return &Lazy{spec: s}
}

// LLM is l as an engine.LLM with the capabilities of the engine it will open: a
// local model counts tokens (engine.TokenCounter), with its tokenizer alone
// until it is loaded. It is nil, not a typed nil, when l is nil, so tools see
// that no model is configured.
func (l *Lazy) LLM() engine.LLM {
	switch {
	case l == nil:
		return nil
	case l.spec.URL == "":
		return lazyCounter{l}
	}
	return lazyLLM{l}
}

// Load opens the engine now, if it is not open yet. A failure is kept: later
// calls return it.
func (l *Lazy) Load(ctx context.Context) error {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	l.mu.Lock()
	switch {
	case l.opened:
		defer l.mu.Unlock()
		return l.err
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.Unlock()
	llm, closeFn, err := LLM(ctx, l.spec)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opened, l.llm, l.close, l.err = true, llm, closeFn, err
	return err
}

// Close releases the engine, if it was opened; nothing opens after it.
func (l *Lazy) Close() error {
	if l == nil {
		return nil
	}
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.close != nil {
		return l.close()
	}
	return nil
}

func (l *Lazy) generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	if err := l.Load(ctx); err != nil {
		return engine.Result{}, err
	}
	return l.llm.Generate(ctx, req, onText)
}

// loaded is the open engine as a TokenCounter, or nil before it is open.
func (l *Lazy) loaded() engine.TokenCounter {
	l.mu.Lock()
	defer l.mu.Unlock()
	tc, _ := l.llm.(engine.TokenCounter)
	if !l.opened || l.err != nil {
		return nil
	}
	return tc
}

// readLight loads the tokenizer and the context length from the model's folder,
// resolving a hub reference from the cache only: counting never downloads.
func (l *Lazy) readLight() error {
	l.light.Do(func() {
		s := l.spec
		s.Pull = false
		dir, tok, err := s.resolve(context.Background())
		if err != nil {
			l.lightErr = err
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			l.lightErr = err
			return
		}
		cfg, _, err := gptq.ParseConfig(data)
		if err != nil {
			l.lightErr = err
			return
		}
		l.tok, l.ctxLen = tok, cfg.Context // tok is not nil: the spec is not IDsOnly
	})
	return l.lightErr
}

type lazyLLM struct{ l *Lazy }

func (e lazyLLM) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	return e.l.generate(ctx, req, onText)
}

// lazyCounter is a lazy local model: it counts tokens with the generator once
// that is loaded, with the tokenizer alone before.
type lazyCounter struct{ l *Lazy }

var (
	_ engine.LLM          = lazyLLM{}
	_ engine.TokenCounter = lazyCounter{}
)

func (e lazyCounter) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	return e.l.generate(ctx, req, onText)
}

func (e lazyCounter) CountTokens(text string) (int, error) {
	if tc := e.l.loaded(); tc != nil {
		return tc.CountTokens(text)
	}
	if err := e.l.readLight(); err != nil {
		return 0, err
	}
	return len(e.l.tok.EncodeWithBOS(text)), nil
}

// ContextLength is 0 when the model's folder cannot be read without a
// download, which callers take as "unknown".
func (e lazyCounter) ContextLength() int {
	if tc := e.l.loaded(); tc != nil {
		return tc.ContextLength()
	}
	if e.l.readLight() != nil {
		return 0
	}
	return e.l.ctxLen
}
