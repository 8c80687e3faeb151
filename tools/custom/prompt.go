package custom

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/internal/yamlpos"
	"github.com/rewoo-agent/agent/tools"
)

type promptSpec struct {
	Template  *tmpl    `yaml:"template"`
	Chat      *bool    `yaml:"chat"` // wrap in the chat template (default true)
	MaxTokens int      `yaml:"max_tokens"`
	Stop      []string `yaml:"stop"`
}

// promptTool sends a rendered template to the language model.
type promptTool struct {
	base
	spec *promptSpec
	llm  engine.LLM
	chat chat.Template
	wrap bool
}

var _ tools.Tool = (*promptTool)(nil)

func (p *promptSpec) build(b base, file string, node *yaml.Node, o Options) (tools.Tool, error) {
	if p.Template == nil {
		return nil, yamlpos.NodeError(file, node, "tool %s: prompt needs a template", b.name)
	}
	if err := p.Template.parse(file, b.name+".prompt.template", nil, environMap(o.Environ)); err != nil {
		return nil, err
	}
	return &promptTool{base: b, spec: p, llm: o.LLM, chat: o.Template, wrap: p.Chat == nil || *p.Chat}, nil
}

// Call renders the prompt and returns the model's reply.
func (t *promptTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	if t.llm == nil {
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, chat.ErrNoLLM)
	}
	text, err := t.spec.Template.render(req)
	if err != nil {
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, err)
	}
	stop := t.spec.Stop
	if t.wrap {
		text = t.chat.Prompt(strings.TrimSpace(text))
		stop = slices.Concat(stop, t.chat.Stops())
	}
	res, err := t.llm.Generate(ctx, engine.Request{Prompt: text, MaxTokens: orDefault(t.spec.MaxTokens, 512), Stop: stop},
		func(string) error { return nil })
	if err != nil {
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, err)
	}
	return tools.Output{Text: strings.TrimSpace(res.Text), Sources: req.CitedSources()}, nil
}
