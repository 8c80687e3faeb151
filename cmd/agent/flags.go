package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/configs/flags"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/internal/askview"
)

// configFlags are a command's configuration flags (package configs/flags):
// each sets a configuration key, with the same precedence for every command.
// A model and a server named at different levels are no conflict: the higher
// one wins (--model as a flag with llm_url in the file means the model).
type configFlags struct{ *flags.Set }

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

// configFlag is one configuration flag: its group, name, key and help; its
// type and default are those of the key in the embedded defaults.
type configFlag struct {
	group            int
	name, key, usage string
}

var configFlagList = []configFlag{
	{modelGroup, "model", "engine.model", "GPTQ checkpoint folder of the local model, or a hub reference org/name[:branch]"},
	{modelGroup, "tokenizer", "engine.tokenizer", "tokenizer.model or tokenizer.json (default: the model folder's)"},
	{modelGroup, "pull", "engine.pull", "download --model first when it is a hub reference not yet in the cache"},
	{modelGroup, "speculate", "engine.speculate", "speculative decoding: draft tokens per step, copied from earlier n-grams of the prompt and output or made by --draft-model, verified in one forward pass (same output); 0 is off"},
	{modelGroup, "draft-model", "engine.draft_model", "smaller GPTQ checkpoint of the same vocabulary that drafts for --speculate (default: prompt lookup)"},
	{modelGroup, "max-sequences", "engine.max_sequences", "the most sequences the local model decodes at once, sharing each step (1 to 64); more calls wait for a slot"},
	{modelGroup, "kv-cache-share", "engine.kv_cache_share", "share of the memory left after the weights that the local model's paged KV cache takes (0: 0.9 on a GPU, 0.5 on the CPU)"},
	{deviceGroup, "device", "engine.device", "compute backend of the local model: auto (the best backend this build has that opens: cuda, else cpu), cpu, cuda or cuda:N"},
	{serverGroup, "llm-url", "engine.llm_url", "OpenAI-compatible server to use instead of a local model, e.g. http://localhost:8000; its key from $" + openai.APIKeyEnv},
	{serverGroup, "llm-model", "engine.llm_model", "model name on the server (default: the first it lists)"},
	{serverGroup, "llm-api", "engine.llm_api", "the server's endpoint: completions, chat (chat-only servers) or auto (completions, else chat on 404/405)"},
	{serverGroup, "llm-grammar", "engine.llm_grammar", "how the server gets the plan grammar: llamacpp, vllm, none or auto (asks GET /props, GET /version)"},
	{samplingGroup, "temperature", "sampling.temperature", "sampling temperature; 0 is greedy"},
	{samplingGroup, "top-k", "sampling.top_k", "top-k sampling (transformers' default 50); 0 is off"},
	{samplingGroup, "top-p", "sampling.top_p", "top-p (nucleus) sampling; 1 is off"},
	{samplingGroup, "repetition-penalty", "sampling.repetition_penalty", "repetition penalty; 1 is off"},
	{samplingGroup, "seed", "sampling.seed", "random seed of the sampler"},
	{plannerGroup, "max-steps", "planner.max_steps", "refuse plans with more steps"},
	{plannerGroup, "timeout", "planner.timeout", "time limit of a question, e.g. 5m; 0 is none"},
	{plannerGroup, "replans", "planner.replans", "new plans asked for when steps fail (the evidence gathered is reused); 0 answers from what there is at once"},
	{plannerGroup, "constrain", "planner.constrain", "a local model writes its plan under the plan grammar, so that it always parses; a server gets it as GBNF (engine.llm_grammar); plans are repaired as needed"},
	{plannerGroup, "repair", "planner.repair", "send a plan that cannot be run back to the model once, with its problems"},
	{plannerGroup, "budget-tokens", "planner.budget.tokens", "prompt and generated tokens one question may spend; 0 is no bound"},
	{plannerGroup, "budget-engine-calls", "planner.budget.engine_calls", "engine calls one question may make; 0 is no bound"},
	{plannerGroup, "budget-tool-calls", "planner.budget.tool_calls", "tool calls one question may make; 0 is no bound"},
	{plannerGroup, "budget-time", "planner.budget.time", "work time of a question, after which it answers from the evidence gathered; 0 is no bound"},
	{plannerGroup, "yes", "planner.allow_confirm", "run tools marked confirm: true without asking (also --allow-confirm); unattended runs refuse them otherwise"},
	{plannerGroup, "trace-payloads", "planner.trace_payloads", "put prompts, generated text and tool inputs and outputs in the OpenTelemetry spans"},
	{toolsGroup, "tools-config", "tools_file", "YAML file of custom tools"},
	{toolsGroup, "corpus", "corpus", "folder of your own documents to search (the LocalSearch and LocalReader tools)"},
}

// configFlagSet defines --config and the configuration flags of groups on cmd.
func configFlagSet(cmd *cobra.Command, groups int) *configFlags {
	c := &configFlags{flags.New(cmd.Flags())}
	for _, f := range configFlagList {
		if groups&f.group != 0 {
			c.Define(f.name, f.key, f.usage)
		}
	}
	c.Alias("allow-confirm", "yes", "the same as --yes")
	return c
}

// load reads the configuration: the defaults, the file, the environment, then
// the flags given on the command line.
func (c *configFlags) load() (*configs.Config, error) { return loadConfig(c.File(), c.Settings()) }

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
