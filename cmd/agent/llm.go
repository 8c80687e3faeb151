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
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

// errNoEngine is returned when neither a model folder nor a server is configured.
var errNoEngine = errors.New("no language model: give --model DIR (a GPTQ checkpoint folder) or --llm-url URL (an OpenAI-compatible server)")

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
	var tok *tokenizer.Tokenizer
	if cfg.Tokenizer != "" {
		tok, err = tokenizer.Load(cfg.Tokenizer)
	} else {
		tok, err = tokenizer.LoadDir(cfg.Model)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w (give the tokenizer with --tokenizer FILE)", err)
	}
	m, err := openModel(ctx, cfg.Model, cfg.Device, progress)
	if err != nil {
		return nil, nil, err
	}
	if tv, mv := tok.VocabSize(), m.VocabSize(); tv > mv {
		m.Close()
		return nil, nil, fmt.Errorf("the tokenizer has %d ids but the model in %s only %d", tv, cfg.Model, mv)
	}
	return generate.New(m, tok), m.Close, nil
}
