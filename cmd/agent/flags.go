package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/openai"
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

// configFlagSet defines --config and the flags of groups on cmd.
func configFlagSet(cmd *cobra.Command, groups int) *configFlags {
	fs := cmd.Flags()
	c := &configFlags{fs: fs, keys: map[string]string{}}
	fs.StringVar(&c.file, "config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	d := defaults()
	key := func(name, k string) { c.keys[name] = k }
	if groups&modelGroup != 0 {
		fs.String("model", d.Engine.Model, "GPTQ checkpoint folder of the local model, or a hub reference org/name[:branch] (config engine.model)")
		fs.String("tokenizer", d.Engine.Tokenizer, "tokenizer.model or tokenizer.json (default: the model folder's) (config engine.tokenizer)")
		fs.Bool("pull", d.Engine.Pull, "download --model first when it is a hub reference not yet in the cache (config engine.pull)")
		key("model", "engine.model")
		key("tokenizer", "engine.tokenizer")
		key("pull", "engine.pull")
	}
	if groups&deviceGroup != 0 {
		fs.String("device", d.Engine.Device, "compute backend of the local model: auto (the best backend this build has that opens: cuda, else cpu), cpu, cuda or cuda:N (config engine.device)")
		key("device", "engine.device")
	}
	if groups&serverGroup != 0 {
		fs.String("llm-url", d.Engine.LLMURL, "OpenAI-compatible server to use instead of a local model, e.g. http://localhost:8000; its key from $"+openai.APIKeyEnv+" (config engine.llm_url)")
		fs.String("llm-model", d.Engine.LLMModel, "model name on the server (default: the first it lists) (config engine.llm_model)")
		key("llm-url", "engine.llm_url")
		key("llm-model", "engine.llm_model")
	}
	if groups&samplingGroup != 0 {
		s := d.Sampling
		fs.Float64("temperature", s.Temperature, "sampling temperature of the plan; 0 is greedy (config sampling.temperature)")
		fs.Int("top-k", s.TopK, "top-k sampling (transformers' default 50); 0 is off (config sampling.top_k)")
		fs.Float64("top-p", s.TopP, "top-p (nucleus) sampling; 1 is off (config sampling.top_p)")
		fs.Float64("repetition-penalty", s.RepetitionPenalty, "repetition penalty; 1 is off (config sampling.repetition_penalty)")
		fs.Int64("seed", s.Seed, "random seed of the sampler (config sampling.seed)")
		key("temperature", "sampling.temperature")
		key("top-k", "sampling.top_k")
		key("top-p", "sampling.top_p")
		key("repetition-penalty", "sampling.repetition_penalty")
		key("seed", "sampling.seed")
	}
	if groups&plannerGroup != 0 {
		fs.Int("max-steps", d.Planner.MaxSteps, "refuse plans with more steps (config planner.max_steps)")
		fs.Duration("timeout", d.Planner.Timeout, "time limit of a question, e.g. 5m; 0 is none (config planner.timeout)")
		key("max-steps", "planner.max_steps")
		key("timeout", "planner.timeout")
	}
	if groups&toolsGroup != 0 {
		fs.String("tools-config", d.ToolsFile, "YAML file of custom tools (config tools_file)")
		key("tools-config", "tools_file")
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

// loadConfig loads the configuration from file (or the default places), the
// environment and the given flag settings.
func loadConfig(file string, settings []configs.Setting) (*configs.Config, error) {
	cfg, err := configs.Load(configs.Options{File: file, Env: os.Environ(), Flags: settings})
	if err != nil {
		return nil, exitError{2, err}
	}
	return cfg, nil
}

// rank orders the sources of configuration values by precedence.
func rank(s configs.Source) int {
	return map[string]int{"default": 0, "file": 1, "env": 2, "flag": 3}[s.Kind]
}

// engineSpec is the engine the configuration names, with progress on progress.
// A model and a server from sources of different precedence are no conflict:
// the higher one wins.
func engineSpec(cfg *configs.Config, progress io.Writer) (open.Spec, error) {
	e := cfg.Engine
	s := open.Spec{
		Model: e.Model, Tokenizer: e.Tokenizer, Device: e.Device, Pull: e.Pull,
		URL: e.LLMURL, ServerModel: e.LLMModel, APIKey: os.Getenv(openai.APIKeyEnv),
		Hub: newHubClient(), Progress: progress,
	}
	if ref, err := hub.ParseRef(e.Model); err == nil {
		s.Hub.Progress = newPullView(progress, ref).update
	}
	if s.Model != "" && s.URL != "" {
		ms, us := cfg.Source("engine.model"), cfg.Source("engine.llm_url")
		switch m, u := rank(ms), rank(us); {
		case m > u:
			s.URL, s.ServerModel = "", ""
		case u > m:
			s.Model = ""
		default:
			return s, exitError{2, fmt.Errorf("%w: engine.model (%s) and engine.llm_url (%s)", open.ErrBothEngines, ms, us)}
		}
	}
	if _, _, err := open.ParseDevice(s.Device); err != nil {
		return s, exitError{2, err}
	}
	return s, nil
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
