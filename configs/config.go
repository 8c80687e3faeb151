package configs

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/internal/yamlpos"
)

// DefaultYAML is the embedded default configuration, the lowest layer of every Load.
//
//go:embed config.yaml
var DefaultYAML []byte

// ToolsExampleYAML is an example custom tools file, one tool of each kind.
//
//go:embed tools.example.yaml
var ToolsExampleYAML []byte

// Config is the effective configuration. Every leaf field has a yaml key (its dotted
// path is the key `agent config` prints and flags bind to) and an env tag naming the
// environment variable that sets it. Fields tagged path:"" hold file paths; a relative
// one in a config file is taken relative to that file.
type Config struct {
	ToolsFile string    `yaml:"tools_file" env:"AGENT_TOOLS" path:""`
	Corpus    string    `yaml:"corpus" env:"AGENT_CORPUS" path:""`
	CacheDir  string    `yaml:"cache_dir" env:"AGENT_CACHE_DIR" path:""`
	Search    Search    `yaml:"search"`
	Fetch     Fetch     `yaml:"fetch"`
	Links     Links     `yaml:"links"`
	Knowledge Knowledge `yaml:"knowledge"`
	Engine    Engine    `yaml:"engine"`
	Sampling  Sampling  `yaml:"sampling"`
	Planner   Planner   `yaml:"planner"`

	sources map[string]Source
	file    string
}

// Search configures the web search tool.
type Search struct {
	Backend       string        `yaml:"backend" env:"AGENT_SEARCH_BACKEND"`
	DuckDuckGoURL string        `yaml:"duckduckgo_url" env:"AGENT_DUCKDUCKGO_URL"`
	SearXNGURL    string        `yaml:"searxng_url" env:"AGENT_SEARXNG_URL"`
	Region        string        `yaml:"region" env:"AGENT_SEARCH_REGION"`
	MaxResults    int           `yaml:"max_results" env:"AGENT_SEARCH_MAX_RESULTS"`
	Timeout       time.Duration `yaml:"timeout" env:"AGENT_SEARCH_TIMEOUT"`
	// Fallback lists the backends tried, in order, when the one in use blocks
	// a request (duckduckgo, searxng, corpus; those not configured are left
	// out).
	Fallback []string `yaml:"fallback" env:"AGENT_SEARCH_FALLBACK"`
	// BlockPause is how long a backend that blocked is left alone, for the
	// whole process.
	BlockPause time.Duration `yaml:"block_pause" env:"AGENT_SEARCH_BLOCK_PAUSE"`
}

// Fetch configures how pages are fetched (TextScraper and http tools).
type Fetch struct {
	Timeout              time.Duration `yaml:"timeout" env:"AGENT_FETCH_TIMEOUT"`
	MaxBytes             int64         `yaml:"max_bytes" env:"AGENT_FETCH_MAX_BYTES"`
	MaxRedirects         int           `yaml:"max_redirects" env:"AGENT_FETCH_MAX_REDIRECTS"`
	MaxURLs              int           `yaml:"max_urls" env:"AGENT_FETCH_MAX_URLS"`
	MaxChars             int           `yaml:"max_chars" env:"AGENT_FETCH_MAX_CHARS"`
	Concurrency          int           `yaml:"concurrency" env:"AGENT_FETCH_CONCURRENCY"`
	PerHostRate          float64       `yaml:"per_host_rate" env:"AGENT_FETCH_PER_HOST_RATE"`
	PerHostBurst         int           `yaml:"per_host_burst" env:"AGENT_FETCH_PER_HOST_BURST"`
	UserAgent            string        `yaml:"user_agent" env:"AGENT_USER_AGENT"`
	Robots               bool          `yaml:"robots" env:"AGENT_ROBOTS"`
	AllowPrivateNetworks bool          `yaml:"allow_private_networks" env:"AGENT_ALLOW_PRIVATE_NETWORKS"`
}

// Links configures HyperlinkExtractor.
type Links struct {
	Max int `yaml:"max" env:"AGENT_LINKS_MAX"`
}

// Knowledge configures KnowledgeModel.
type Knowledge struct {
	MaxTokens     int `yaml:"max_tokens" env:"AGENT_KNOWLEDGE_MAX_TOKENS"`
	ContextLength int `yaml:"context_length" env:"AGENT_KNOWLEDGE_CONTEXT_LENGTH"`
}

// Engine picks the language model: a local GPTQ checkpoint folder or a hub
// reference org/name[:branch] (Model), or a remote OpenAI-compatible server
// (LLMURL). Pull lets a hub reference that is not in the cache download first.
type Engine struct {
	Model     string `yaml:"model" env:"AGENT_MODEL" path:"or-ref"`
	Pull      bool   `yaml:"pull" env:"AGENT_PULL"`
	Tokenizer string `yaml:"tokenizer" env:"AGENT_TOKENIZER" path:""`
	Device    string `yaml:"device" env:"AGENT_DEVICE"`
	LLMURL    string `yaml:"llm_url" env:"AGENT_LLM_URL"`
	LLMModel  string `yaml:"llm_model" env:"AGENT_LLM_MODEL"`
	LLMAPI    string `yaml:"llm_api" env:"AGENT_LLM_API"`
	// Speculate is the draft tokens per decode step of speculative decoding
	// (0: off), drafted by DraftModel or, without one, by prompt lookup.
	Speculate  int    `yaml:"speculate" env:"AGENT_SPECULATE"`
	DraftModel string `yaml:"draft_model" env:"AGENT_DRAFT_MODEL" path:""`
	// MaxSequences is the most sequences a local model decodes at once, sharing
	// each step (the continuous-batching engine's running slots).
	MaxSequences int `yaml:"max_sequences" env:"AGENT_MAX_SEQUENCES"`
	// KVCacheShare is the share of the memory free after the weights that the
	// paged KV cache takes (0: the backend's default, 0.9 on a GPU, 0.5 on the CPU).
	KVCacheShare float64 `yaml:"kv_cache_share" env:"AGENT_KV_CACHE_SHARE"`
	// LLMGrammar is how the server gets the plan grammar (engine/openai's
	// Grammar): auto, llamacpp, vllm or none.
	LLMGrammar string `yaml:"llm_grammar" env:"AGENT_LLM_GRAMMAR"`
}

// Sampling holds the decoding settings of the plan (Hugging Face semantics).
type Sampling struct {
	Temperature       float64 `yaml:"temperature" env:"AGENT_TEMPERATURE"`
	TopK              int     `yaml:"top_k" env:"AGENT_TOP_K"`
	TopP              float64 `yaml:"top_p" env:"AGENT_TOP_P"`
	RepetitionPenalty float64 `yaml:"repetition_penalty" env:"AGENT_REPETITION_PENALTY"`
	Seed              int64   `yaml:"seed" env:"AGENT_SEED"`
}

// Planner configures agent ask: limits, the resolver, and the prompt templates.
type Planner struct {
	MaxSteps      int           `yaml:"max_steps" env:"AGENT_MAX_STEPS"`
	MaxPlanTokens int           `yaml:"max_plan_tokens" env:"AGENT_MAX_PLAN_TOKENS"`
	Timeout       time.Duration `yaml:"timeout" env:"AGENT_TIMEOUT"`
	StepTimeout   time.Duration `yaml:"step_timeout" env:"AGENT_STEP_TIMEOUT"`
	Retries       int           `yaml:"retries" env:"AGENT_RETRIES"`
	Concurrency   int           `yaml:"concurrency" env:"AGENT_CONCURRENCY"`
	MaxInputBytes int           `yaml:"max_input_bytes" env:"AGENT_MAX_INPUT_BYTES"`
	MaxExpansion  int           `yaml:"max_expansion" env:"AGENT_MAX_EXPANSION"`
	Stop          []string      `yaml:"stop" env:"AGENT_STOP"`
	Prompts       Prompts       `yaml:"prompts"`
	// Constrain writes a local model's plans under the plan grammar
	// (planner/constrain); remote servers' plans are written freely.
	Constrain bool `yaml:"constrain" env:"AGENT_CONSTRAIN"`
	// Repair sends a plan that cannot be run back to the model once, with its
	// problems.
	Repair bool `yaml:"repair" env:"AGENT_REPAIR"`
	// Replans bounds the new plans asked for when steps fail.
	Replans int    `yaml:"replans" env:"AGENT_REPLANS"`
	Budget  Budget `yaml:"budget"`
	// AllowConfirm lets tools marked confirm: true run without asking (--yes).
	AllowConfirm bool `yaml:"allow_confirm" env:"AGENT_ALLOW_CONFIRM"`
	// TracePayloads puts prompts, generated text and tool inputs and outputs
	// in the OpenTelemetry spans.
	TracePayloads bool `yaml:"trace_payloads" env:"AGENT_TRACE_PAYLOADS"`
}

// Budget bounds what one question spends; 0 is no bound.
type Budget struct {
	Tokens      int           `yaml:"tokens" env:"AGENT_BUDGET_TOKENS"`
	EngineCalls int           `yaml:"engine_calls" env:"AGENT_BUDGET_ENGINE_CALLS"`
	ToolCalls   int           `yaml:"tool_calls" env:"AGENT_BUDGET_TOOL_CALLS"`
	Time        time.Duration `yaml:"time" env:"AGENT_BUDGET_TIME"`
}

// Prompts override the texts the planner sends; empty means the built-in one.
type Prompts struct {
	System    string `yaml:"system" env:"AGENT_PROMPT_SYSTEM"`
	User      string `yaml:"user" env:"AGENT_PROMPT_USER"`
	Assistant string `yaml:"assistant" env:"AGENT_PROMPT_ASSISTANT"`
	Plan      string `yaml:"plan" env:"AGENT_PROMPT_PLAN"`
}

// Source says where a configuration value came from.
type Source struct {
	Kind  string // "default", "file", "env" or "flag"
	Where string // file:line, the variable's or the flag's name; empty for defaults
}

// Rank orders sources by precedence: default 0, file 1, env 2, flag 3.
func (s Source) Rank() int {
	return map[string]int{"default": 0, "file": 1, "env": 2, "flag": 3}[s.Kind]
}

func (s Source) String() string {
	if s.Where == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Where
}

// Setting is one value set from outside the files, such as a command-line flag.
type Setting struct {
	Key   string // dotted key, e.g. "fetch.timeout"
	Value string // parsed like an environment variable's value
	Flag  string // the flag's name, e.g. "--timeout"
}

// Options say where Load looks.
type Options struct {
	// File is the configuration file to read. Empty means $AGENT_CONFIG, else
	// $XDG_CONFIG_HOME/agent/config.yaml where that exists.
	File string
	// Env is the environment as os.Environ returns it.
	Env []string
	// Flags are applied last, in order.
	Flags []Setting
}

// Load builds the configuration from, in increasing precedence, the embedded
// defaults, the configuration file, AGENT_* environment variables and flags, and
// records where each value came from.
func Load(opts Options) (*Config, error) {
	env := envMap(opts.Env)
	c := &Config{sources: map[string]Source{}}
	if err := yamlpos.Decode("(defaults)", DefaultYAML, c); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	for _, f := range c.fields() {
		c.sources[f.Key] = Source{Kind: "default"}
	}

	file, explicit := opts.File, opts.File != ""
	if !explicit {
		file, explicit = env["AGENT_CONFIG"], env["AGENT_CONFIG"] != ""
	}
	if !explicit {
		if dir := configHome(env); dir != "" {
			file = filepath.Join(dir, "agent", "config.yaml")
		}
	}
	if file != "" {
		if err := c.loadFile(file); err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)) {
			return nil, err
		}
	}

	for _, f := range c.fields() {
		if f.Env == "" {
			continue
		}
		if v, ok := env[f.Env]; ok {
			if v == "" && f.v.Kind() != reflect.String {
				continue // set but empty: as good as unset for a number or switch
			}
			if err := f.set(v); err != nil {
				return nil, fmt.Errorf("environment variable %s: %w", f.Env, err)
			}
			c.sources[f.Key] = Source{Kind: "env", Where: f.Env}
		}
	}
	for _, s := range opts.Flags {
		if err := c.Set(s.Key, s.Value, Source{Kind: "flag", Where: s.Flag}); err != nil {
			return nil, fmt.Errorf("flag %s: %w", s.Flag, err)
		}
	}
	if c.CacheDir == "" {
		if dir := cacheHome(env); dir != "" {
			c.CacheDir = filepath.Join(dir, "agent")
			c.sources["cache_dir"] = Source{Kind: "default", Where: "XDG cache directory"}
		}
	}
	return c, nil
}

// loadFile layers the YAML file at path over c and records the lines it set.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := yamlpos.Decode(path, data, c); err != nil {
		return err
	}
	c.file = path
	lines := keyLines(data)
	for _, f := range c.fields() {
		line, mentioned := lines[f.Key]
		if !mentioned {
			continue
		}
		if f.Path && f.String() != "" && !filepath.IsAbs(f.String()) {
			joined := filepath.Join(filepath.Dir(path), f.String())
			// A model may be a hub reference (org/name): kept as written unless
			// the file names a folder beside it.
			if _, err := os.Stat(joined); err == nil || !f.orRef {
				f.v.SetString(joined)
			}
		}
		c.sources[f.Key] = Source{Kind: "file", Where: fmt.Sprintf("%s:%d", path, line)}
	}
	return nil
}

// File is the configuration file that was read, or "" when none was.
func (c *Config) File() string { return c.file }

// Source reports where the value of key came from.
func (c *Config) Source(key string) Source { return c.sources[key] }

// Set sets the value at the dotted key from its text form (as an environment variable
// writes it) and records src as its source.
func (c *Config) Set(key, value string, src Source) error {
	for _, f := range c.fields() {
		if f.Key == key {
			if err := f.set(value); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			if c.sources == nil {
				c.sources = map[string]Source{}
			}
			c.sources[key] = src
			return nil
		}
	}
	return fmt.Errorf("unknown configuration key %q", key)
}

// Field is one leaf of the configuration.
type Field struct {
	Key  string // dotted yaml path
	Env  string // environment variable, "" if none
	Path bool   // holds a file path
	v    reflect.Value
	// orRef: the path may also be a hub reference, so a relative value that names
	// nothing beside the config file is kept as written.
	orRef bool
}

// String is the value in the form Set and environment variables accept.
func (f Field) String() string {
	switch x := f.v.Interface().(type) {
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ",")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// Value is the value itself: a string, bool, int, int64, float64,
// time.Duration or []string.
func (f Field) Value() any { return f.v.Interface() }

func (f Field) set(s string) error {
	s = strings.TrimSpace(s)
	switch f.v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.v.SetInt(int64(d))
		return nil
	case []string:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.v.Set(reflect.ValueOf(list))
		return nil
	}
	switch f.v.Kind() {
	case reflect.String:
		f.v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (use true/false or 1/0)", s)
		}
		f.v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.v.SetFloat(x)
	default:
		return fmt.Errorf("cannot set a %s from text", f.v.Type())
	}
	return nil
}

// Fields lists every leaf of the configuration in declaration order, with its
// source.
func (c *Config) Fields() []Field { return c.fields() }

func (c *Config) fields() []Field {
	var out []Field
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			key := joinPath(prefix, name)
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Time]() {
				walk(fv, key)
				continue
			}
			pathTag, isPath := sf.Tag.Lookup("path")
			out = append(out, Field{Key: key, Env: sf.Tag.Get("env"), Path: isPath, v: fv, orRef: pathTag == "or-ref"})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}
