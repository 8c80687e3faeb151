package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// errNoEngine is returned when neither a model folder nor a server is configured.
var errNoEngine = errors.New("no language model: give --model DIR (a GPTQ checkpoint folder, or a hub reference org/name[:branch]) or --llm-url URL (an OpenAI-compatible server)")

// openLLM returns the configured engine: the local checkpoint in cfg.Model, loaded
// on cfg.Device with progress on progress, or the OpenAI-compatible server at
// cfg.LLMURL (its API key from $AGENT_LLM_API_KEY). close releases the model.
func openLLM(ctx context.Context, cfg configs.Engine, progress io.Writer) (llm engine.LLM, close func() error, err error) {
	switch {
	case cfg.Model != "" && cfg.LLMURL != "":
		return nil, nil, errors.New("give either a model folder or a server URL, not both")
	case cfg.LLMURL != "":
		c, err := openai.New(cfg.LLMURL, openai.Options{Model: cfg.LLMModel, APIKey: os.Getenv("AGENT_LLM_API_KEY")})
		if err != nil {
			return nil, nil, err
		}
		return c, func() error { return nil }, nil
	case cfg.Model == "":
		return nil, nil, errNoEngine
	}
	dir, err := resolveModel(ctx, cfg.Model, cfg.Pull, progress)
	if err != nil {
		return nil, nil, err
	}
	g, m, _, err := openLocal(ctx, dir, cfg.Tokenizer, cfg.Device, false, progress)
	if err != nil {
		return nil, nil, err
	}
	return g, m.Close, nil
}

// openLocal loads the checkpoint in dir on device with its tokenizer (tokPath, or
// the one in dir when tokPath is ""). With idsOnly set, a folder without a tokenizer
// still loads, for callers that feed ids and want ids back: the generator then knows
// BOS and EOS from config.json and decodes no text, which textless reports.
func openLocal(ctx context.Context, dir, tokPath, device string, idsOnly bool, progress io.Writer) (g *generate.Generator, m *llama.Model, textless bool, err error) {
	var (
		tok    *tokenizer.Tokenizer
		tokErr error
	)
	if tokPath != "" {
		tok, tokErr = tokenizer.Load(tokPath)
	} else {
		tok, tokErr = tokenizer.LoadDir(dir)
	}
	if tokErr != nil && !idsOnly {
		return nil, nil, false, fmt.Errorf("%w (give the tokenizer with --tokenizer FILE)", tokErr)
	}
	m, err = openModel(ctx, dir, device, progress)
	if err != nil {
		return nil, nil, false, err
	}
	if tokErr != nil {
		fmt.Fprintf(progress, "%v: generating ids only, no text\n", tokErr)
		cfg := m.Config()
		return generate.New(m, idsOnlyTokenizer{bos: cfg.BOS, eos: cfg.EOS}), m, true, nil
	}
	if tv, mv := tok.VocabSize(), m.VocabSize(); tv > mv {
		m.Close()
		return nil, nil, false, fmt.Errorf("the tokenizer has %d ids but the model in %s only %d", tv, dir, mv)
	}
	return generate.New(m, tok), m, false, nil
}

// idsOnlyTokenizer stands in for the tokenizer of a model folder that has none: it
// knows BOS and EOS and decodes nothing.
type idsOnlyTokenizer struct{ bos, eos int }

func (idsOnlyTokenizer) Encode(string) []int      { return nil }
func (t idsOnlyTokenizer) BOS() int               { return t.bos }
func (t idsOnlyTokenizer) EOS() int               { return t.eos }
func (idsOnlyTokenizer) NewStream() idsOnlyStream { return idsOnlyStream{} }

type idsOnlyStream struct{}

func (idsOnlyStream) Next(int) string { return "" }
func (idsOnlyStream) Flush() string   { return "" }
