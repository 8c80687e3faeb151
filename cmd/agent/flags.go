package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/internal/askview"
)

// The configuration flags: each sets a configuration key. Precedence, the same
// for every command: a flag given on the command line beats the AGENT_*
// variable, which beats the configuration file, which beats the default. A
// model and a server named at different levels are no conflict: the higher one
// wins (--model as a flag with llm_url in the file means the model).
type configFlags struct {
	fs   *pflag.FlagSet
	file string
	keys map[string]string // flag name → configuration key
}

// Groups of configuration flags a command may take.
const (
	modelGroup    = 1 << iota // --model, --tokenizer, --pull
	deviceGroup               // --device
	serverGroup               // --llm-url, --llm-model
	samplingGroup             // the sampling: --temperature, --top-k, ...
	plannerGroup              // --max-steps, --timeout
	toolsGroup                // --tools-config

	localGroup  = modelGroup | deviceGroup // a local model
	engineGroup = localGroup | serverGroup // a local model or a server
)

// defaults is the embedded default configuration, for the defaults flags show.
func defaults() *configs.Config {
	var d configs.Config
	if err := configs.Decode("(defaults)", configs.DefaultYAML, &d); err != nil {
		panic("embedded defaults: " + err.Error())
	}
	return &d
}

// configFlag is one configuration flag: its group, name, key and help; its type
// and default are those of the key in the embedded defaults.
type configFlag struct {
	group     int
	name, key string
	def       any
	usage     string
}

func configFlagList(d *configs.Config) []configFlag {
	e, s, p := d.Engine, d.Sampling, d.Planner
	return []configFlag{
		{modelGroup, "model", "engine.model", e.Model, "GPTQ checkpoint folder of the local model, or a hub reference org/name[:branch]"},
		{modelGroup, "tokenizer", "engine.tokenizer", e.Tokenizer, "tokenizer.model or tokenizer.json (default: the model folder's)"},
		{modelGroup, "pull", "engine.pull", e.Pull, "download --model first when it is a hub reference not yet in the cache"},
		{modelGroup, "speculate", "engine.speculate", e.Speculate, "speculative decoding: draft tokens per step, copied from earlier n-grams of the prompt and output or made by --draft-model, verified in one forward pass (same output); 0 is off"},
		{modelGroup, "draft-model", "engine.draft_model", e.DraftModel, "smaller GPTQ checkpoint of the same vocabulary that drafts for --speculate (default: prompt lookup)"},
		{deviceGroup, "device", "engine.device", e.Device, "compute backend of the local model: auto (the best backend this build has that opens: cuda, else cpu), cpu, cuda or cuda:N"},
		{serverGroup, "llm-url", "engine.llm_url", e.LLMURL, "OpenAI-compatible server to use instead of a local model, e.g. http://localhost:8000; its key from $" + openai.APIKeyEnv},
		{serverGroup, "llm-model", "engine.llm_model", e.LLMModel, "model name on the server (default: the first it lists)"},
		{serverGroup, "llm-api", "engine.llm_api", e.LLMAPI, "the server's endpoint: completions, chat (chat-only servers) or auto (completions, else chat on 404/405)"},
		{serverGroup, "llm-grammar", "engine.llm_grammar", e.LLMGrammar, "how the server gets the plan grammar: llamacpp, vllm, none or auto (asks GET /props, GET /version)"},
		{samplingGroup, "temperature", "sampling.temperature", s.Temperature, "sampling temperature; 0 is greedy"},
		{samplingGroup, "top-k", "sampling.top_k", s.TopK, "top-k sampling (transformers' default 50); 0 is off"},
		{samplingGroup, "top-p", "sampling.top_p", s.TopP, "top-p (nucleus) sampling; 1 is off"},
		{samplingGroup, "repetition-penalty", "sampling.repetition_penalty", s.RepetitionPenalty, "repetition penalty; 1 is off"},
		{samplingGroup, "seed", "sampling.seed", s.Seed, "random seed of the sampler"},
		{plannerGroup, "max-steps", "planner.max_steps", p.MaxSteps, "refuse plans with more steps"},
		{plannerGroup, "timeout", "planner.timeout", p.Timeout, "time limit of a question, e.g. 5m; 0 is none"},
		{plannerGroup, "replans", "planner.replans", p.Replans, "new plans asked for when steps fail (the evidence gathered is reused); 0 answers from what there is at once"},
		{plannerGroup, "constrain", "planner.constrain", p.Constrain, "a local model writes its plan under the plan grammar, so that it always parses; a server gets it as GBNF (engine.llm_grammar); plans are repaired as needed"},
		{plannerGroup, "repair", "planner.repair", p.Repair, "send a plan that cannot be run back to the model once, with its problems"},
		{plannerGroup, "budget-tokens", "planner.budget.tokens", p.Budget.Tokens, "prompt and generated tokens one question may spend; 0 is no bound"},
		{plannerGroup, "budget-engine-calls", "planner.budget.engine_calls", p.Budget.EngineCalls, "engine calls one question may make; 0 is no bound"},
		{plannerGroup, "budget-tool-calls", "planner.budget.tool_calls", p.Budget.ToolCalls, "tool calls one question may make; 0 is no bound"},
		{plannerGroup, "budget-time", "planner.budget.time", p.Budget.Time, "work time of a question, after which it answers from the evidence gathered; 0 is no bound"},
		{plannerGroup, "yes", "planner.allow_confirm", p.AllowConfirm, "run tools marked confirm: true without asking (also --allow-confirm); unattended runs refuse them otherwise"},
		{plannerGroup, "trace-payloads", "planner.trace_payloads", p.TracePayloads, "put prompts, generated text and tool inputs and outputs in the OpenTelemetry spans"},
		{toolsGroup, "tools-config", "tools_file", d.ToolsFile, "YAML file of custom tools"},
		{toolsGroup, "corpus", "corpus", d.Corpus, "folder of your own documents to search (the LocalSearch and LocalReader tools)"},
	}
}

// configFlagSet defines --config and the configuration flags of groups on cmd.
func configFlagSet(cmd *cobra.Command, groups int) *configFlags {
	fs := cmd.Flags()
	c := &configFlags{fs: fs, keys: map[string]string{}}
	fs.StringVar(&c.file, "config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	for _, f := range configFlagList(defaults()) {
		if groups&f.group == 0 {
			continue
		}
		usage := f.usage + " (config " + f.key + ")"
		switch v := f.def.(type) {
		case string:
			fs.String(f.name, v, usage)
		case bool:
			fs.Bool(f.name, v, usage)
		case int:
			fs.Int(f.name, v, usage)
		case int64:
			fs.Int64(f.name, v, usage)
		case float64:
			fs.Float64(f.name, v, usage)
		case time.Duration:
			fs.Duration(f.name, v, usage)
		default:
			panic(fmt.Sprintf("flag --%s: no flag type for %T", f.name, v))
		}
		c.keys[f.name] = f.key
	}
	if fs.Lookup("yes") != nil {
		// --allow-confirm is --yes by its longer name.
		fs.AddFlag(&pflag.Flag{Name: "allow-confirm", Usage: "the same as --yes", Value: fs.Lookup("yes").Value, NoOptDefVal: "true"})
		c.keys["allow-confirm"] = "planner.allow_confirm"
	}
	return c
}

// load reads the configuration: the defaults, the file, the environment, then
// the flags given on the command line.
func (c *configFlags) load() (*configs.Config, error) {
	var settings []configs.Setting
	c.fs.Visit(func(f *pflag.Flag) {
		if k, ok := c.keys[f.Name]; ok {
			settings = append(settings, configs.Setting{Key: k, Value: f.Value.String(), Flag: "--" + f.Name})
		}
	})
	return loadConfig(c.file, settings)
}

// runE is a command's RunE that loads the configuration and runs f with it.
func (c *configFlags) runE(f func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := c.load()
		if err != nil {
			return err
		}
		return f(cmd.Context(), stdioOf(cmd), cfg, args)
	}
}

// loadConfig loads the configuration from file (or the default places), the
// environment and the given flag settings.
func loadConfig(file string, settings []configs.Setting) (*configs.Config, error) {
	cfg, err := configs.Load(configs.Options{File: file, Env: os.Environ(), Flags: settings})
	if err != nil {
		return nil, exitError{2, err}
	}
	return cfg, nil
}

// engineSpec is the engine the configuration names (open.FromConfig), with
// progress on progress.
func engineSpec(cfg *configs.Config, progress io.Writer) (open.Spec, error) {
	s, err := open.FromConfig(cfg, os.Getenv)
	if err != nil {
		return s, exitError{2, err}
	}
	s.Progress = progress
	if ref, err := hub.ParseRef(s.Model); err == nil {
		s.Hub.Progress = hub.NewProgressView(progress, ref, askview.IsTerminal(progress)).Update
	}
	return s, nil
}

// checkedSpec is engineSpec for a command that needs an engine: with neither a
// model nor a server, or both, it is a usage error of cmd.
func checkedSpec(cmd string, cfg *configs.Config, progress io.Writer) (open.Spec, error) {
	spec, err := engineSpec(cfg, progress)
	if err != nil {
		return spec, err
	}
	if err := spec.Check(); err != nil {
		return spec, usageErr("%s: need exactly one of --model and --llm-url (or $AGENT_MODEL, $AGENT_LLM_URL, engine.model, engine.llm_url): %v", cmd, err)
	}
	return spec, nil
}

// localSpec is engineSpec for a command that needs a local model.
func localSpec(cmd string, cfg *configs.Config, progress io.Writer) (open.Spec, error) {
	spec, err := engineSpec(cfg, progress)
	if err == nil && spec.Model == "" {
		err = usageErr("%s: need a local model: --model DIR (or $AGENT_MODEL, engine.model)", cmd)
	}
	return spec, err
}

// openEngine opens the engine spec names (open.Open); a server that cannot be
// used is a usage error.
func openEngine(ctx context.Context, spec open.Spec) (engine.LLM, *open.Loaded, func() error, error) {
	llm, local, closeLLM, err := open.Open(ctx, spec)
	if err != nil && spec.URL != "" {
		err = exitError{2, err}
	}
	return llm, local, closeLLM, err
}

// newHubClient is the hub client the environment configures (HF_ENDPOINT,
// HF_TOKEN, HF_HOME, HF_HUB_OFFLINE).
func newHubClient() *hub.Client { return hub.New(os.Getenv) }

// lazyEngine is the configured engine, opened on first use; nil when none is
// configured.
func lazyEngine(cfg *configs.Config, progress io.Writer) (*open.Lazy, error) {
	if cfg.Engine.Model == "" && cfg.Engine.LLMURL == "" {
		return nil, nil
	}
	spec, err := engineSpec(cfg, progress)
	if err != nil {
		return nil, err
	}
	return open.NewLazy(spec), nil
}
