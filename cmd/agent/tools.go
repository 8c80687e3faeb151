package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
)

func init() {
	register(command{
		name:    "tools",
		summary: "list the tools plans may call (tools), or run one (tools call NAME INPUT)",
		run:     runTools,
	})
}

func runTools(ctx context.Context, std stdio, args []string) error {
	call := len(args) > 0 && args[0] == "call"
	if call {
		args = args[1:]
	}
	fs := flag.NewFlagSet("tools", flag.ContinueOnError)
	fs.SetOutput(std.err)
	configFile := fs.String("config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	toolsConfig := fs.String("tools-config", "", "YAML file of custom tools (config tools_file)")
	asJSON := fs.Bool("json", false, "list the tools as JSON [{name, description}]")
	fs.Usage = func() {
		fmt.Fprintln(std.err, "usage: agent tools [--config FILE] [--tools-config FILE] [--json]\n       agent tools call [--config FILE] [--tools-config FILE] NAME INPUT")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	cfg, err := loadConfig(*configFile, toolsFileSetting(*toolsConfig))
	if err != nil {
		return err
	}
	if !call {
		if fs.NArg() > 0 {
			fs.Usage()
			return exitError{2, fmt.Errorf("tools: unexpected argument %q (did you mean tools call?)", fs.Arg(0))}
		}
		reg, err := loadTools(ctx, cfg, nil)
		if err != nil {
			return err
		}
		return listTools(std, reg, *asJSON)
	}

	if fs.NArg() < 2 {
		fs.Usage()
		return exitError{2, errors.New("tools call: need a tool name and its input")}
	}
	name, input := fs.Arg(0), strings.Join(fs.Args()[1:], " ")
	if input == "-" {
		if input, err = askQuestion(std.in, nil); err != nil {
			return exitError{2, err}
		}
	}
	// The model opens only if the tool calls it (KnowledgeModel, prompt tools).
	lazy := newLazyLLM(cfg.Engine, std.err)
	defer lazy.close()
	reg, err := loadTools(ctx, cfg, lazy.engine())
	if err != nil {
		return err
	}
	t, err := reg.Get(name)
	if err != nil {
		return fmt.Errorf("%w (agent tools lists them)", err)
	}
	out, err := t.Call(ctx, tools.Request{Input: input, Raw: input})
	if err != nil {
		if strings.HasPrefix(err.Error(), name+": ") { // custom tools name themselves
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := fmt.Fprintln(std.out, out.Text); err != nil {
		return err
	}
	for _, s := range out.Sources {
		fmt.Fprintln(std.err, "source:", s)
	}
	return nil
}

// lazyLLM opens the model on the first Generate, so listing or calling tools that
// never use it costs nothing.
type lazyLLM struct {
	open    func(context.Context) (engine.LLM, func() error, error)
	once    sync.Once
	llm     engine.LLM
	closeFn func() error
	err     error
}

// newLazyLLM returns the configured engine, opened on first use, or nil when no
// model or server is configured.
func newLazyLLM(cfg configs.Engine, progress io.Writer) *lazyLLM {
	if cfg.Model == "" && cfg.LLMURL == "" {
		return nil
	}
	return &lazyLLM{open: func(ctx context.Context) (engine.LLM, func() error, error) {
		return openLLM(ctx, cfg, progress)
	}}
}

// engine is l as an engine.LLM: nil, not a typed nil, when there is none, so tools
// see that no model is configured.
func (l *lazyLLM) engine() engine.LLM {
	if l == nil {
		return nil
	}
	return l
}

func (l *lazyLLM) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	if err := l.load(ctx); err != nil {
		return engine.Result{}, err
	}
	return l.llm.Generate(ctx, req, onText)
}

// load opens the model now, if it is not open yet.
func (l *lazyLLM) load(ctx context.Context) error {
	l.once.Do(func() { l.llm, l.closeFn, l.err = l.open(ctx) })
	return l.err
}

func (l *lazyLLM) close() {
	if l != nil && l.closeFn != nil {
		l.closeFn()
	}
}

// listTools prints each tool as the planner shows it: Name[input]: description.
func listTools(std stdio, reg *tools.Registry, asJSON bool) error {
	if asJSON {
		type entry struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		list := []entry{}
		for _, t := range reg.All() {
			list = append(list, entry{t.Name(), t.Description()})
		}
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	for _, t := range reg.All() {
		if _, err := fmt.Fprintf(std.out, "%s[input]: %s\n", t.Name(), t.Description()); err != nil {
			return err
		}
	}
	return nil
}
