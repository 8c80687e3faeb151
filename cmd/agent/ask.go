package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

func init() {
	register(command{
		name:    "ask",
		summary: "answer a question: plan with the model, run the tools, print the answer and its sources",
		run:     runAsk,
	})
}

// askFlags are ask's flags that set configuration keys; a flag given on the
// command line beats the environment and the config file.
var askFlags = []struct{ name, key, usage string }{
	{"model", "engine.model", "GPTQ checkpoint folder of the local model, or a hub reference org/name[:branch]"},
	{"tokenizer", "engine.tokenizer", "tokenizer.model or tokenizer.json (default: the model folder's)"},
	{"device", "engine.device", "compute backend of the local model: auto (cuda in a -tags cuda build when a GPU answers, else cpu), cpu or cuda"},
	{"llm-url", "engine.llm_url", "OpenAI-compatible server to use instead of a local model, e.g. http://localhost:8000"},
	{"llm-model", "engine.llm_model", "model name on the server (default: the first it lists)"},
	{"temperature", "sampling.temperature", "sampling temperature of the plan; 0 is greedy"},
	{"top-k", "sampling.top_k", "top-k sampling (transformers' default 50); 0 is off"},
	{"top-p", "sampling.top_p", "top-p (nucleus) sampling; 1 is off"},
	{"repetition-penalty", "sampling.repetition_penalty", "repetition penalty; 1 is off"},
	{"seed", "sampling.seed", "random seed of the sampler"},
	{"tools-config", "tools_file", "YAML file of custom tools"},
	{"max-steps", "planner.max_steps", "refuse plans with more steps"},
	{"timeout", "planner.timeout", "overall time limit, e.g. 5m; 0 is none"},
}

func runAsk(ctx context.Context, std stdio, args []string) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	fs.SetOutput(std.err)
	conf := addConfigFlags(fs)
	planOnly := fs.Bool("plan-only", false, "write and check the plan, print it, and stop")
	asJSON := fs.Bool("json", false, "print the whole trace as JSON: prompt, plan, DAG, steps, engine calls, timings, answer")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintln(std.err, `usage: agent ask [flags] "QUESTION"   (or the question on stdin)`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	question, err := askQuestion(std.in, fs.Args())
	if err != nil {
		fs.Usage()
		return exitError{2, err}
	}
	cfg, err := conf.load()
	if err != nil {
		return err
	}
	ctx, cancel, errTimeLimit := withTimeLimit(ctx, cfg)
	defer cancel()
	a, err := openAsker(ctx, cfg, std.err)
	if err != nil {
		return err
	}
	defer a.close()

	view := newAskProgress(std.err, *quiet)
	tr, askErr := a.ask(ctx, question, *planOnly, view.event)
	view.stop()

	if *asJSON && tr != nil {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tr); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(askErr, planner.ErrBadPlan):
		printBadPlan(std.err, tr, askErr)
		return errSilent
	case askErr != nil:
		timedOut := timedOut(ctx, errTimeLimit)
		what := "stopped"
		switch {
		case timedOut:
			what = "timed out"
		case ctx.Err() != nil:
			what = "interrupted"
		}
		if tr != nil {
			printDone(std.err, tr, what)
		}
		if timedOut {
			return errTimeLimit
		}
		return askErr
	case *asJSON:
		return nil
	case *planOnly:
		_, err := io.WriteString(std.out, tr.DAG.String())
		return err
	}
	return printAnswerSources(std.out, tr.Answer)
}

// configFlags are the flags of a command that answers questions and sets
// configuration keys: --config and askFlags.
type configFlags struct {
	fs   *flag.FlagSet
	file *string
}

// addConfigFlags defines --config and askFlags on fs.
func addConfigFlags(fs *flag.FlagSet) *configFlags {
	c := &configFlags{fs: fs, file: fs.String("config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")}
	for _, f := range askFlags {
		fs.String(f.name, "", f.usage+" (config "+f.key+")")
	}
	fs.Bool("pull", false, pullFlagUsage+" (config engine.pull)")
	return c
}

// load reads the configuration, with the flags given on the command line (after
// fs.Parse) beating the environment and the file.
func (c *configFlags) load() (*configs.Config, error) {
	var settings []configs.Setting
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == "pull" {
			settings = append(settings, configs.Setting{Key: "engine.pull", Value: f.Value.String(), Flag: "--pull"})
		}
		for _, af := range askFlags {
			if af.name == f.Name {
				settings = append(settings, configs.Setting{Key: af.key, Value: f.Value.String(), Flag: "--" + f.Name})
			}
		}
	})
	return loadConfig(*c.file, settings)
}

// withTimeLimit bounds ctx by the configured time limit of one question. limit is
// the cause of ctx's end when the limit ends it, nil when there is none.
func withTimeLimit(ctx context.Context, cfg *configs.Config) (_ context.Context, cancel context.CancelFunc, limit error) {
	if cfg.Planner.Timeout <= 0 {
		return ctx, func() {}, nil
	}
	limit = fmt.Errorf("ran out of time: the limit is %s (--timeout, planner.timeout)", cfg.Planner.Timeout)
	ctx, cancel = context.WithTimeoutCause(ctx, cfg.Planner.Timeout, limit)
	return ctx, cancel, limit
}

// timedOut reports whether the time limit of withTimeLimit ended ctx.
func timedOut(ctx context.Context, limit error) bool {
	return limit != nil && errors.Is(context.Cause(ctx), limit)
}

// asker answers questions with the configured engine and tools, which every
// question it answers shares.
type asker struct {
	cfg   *configs.Config
	llm   engine.LLM // the engine, its calls recorded in each question's trace
	tools *tools.Registry
	close func() error
}

// openAsker loads the configured engine (progress goes to progress) and tools. The
// tools live as long as ctx.
func openAsker(ctx context.Context, cfg *configs.Config, progress io.Writer) (*asker, error) {
	base, closeLLM, err := openLLM(ctx, cfg.Engine, progress)
	if err != nil {
		return nil, err
	}
	a := &asker{cfg: cfg, llm: planner.Recorded(base), close: closeLLM}
	if a.tools, err = loadTools(ctx, cfg, a.llm); err != nil {
		closeLLM()
		return nil, err
	}
	return a, nil
}

// ask answers question, or with planOnly only writes and checks its plan; its
// trace lists the engine calls made for this question alone, so several may run
// at once. on, when not nil, receives the run's events.
func (a *asker) ask(ctx context.Context, question string, planOnly bool, on func(planner.Event)) (*planner.Trace, error) {
	p := newPlanner(a.cfg, a.llm, a.tools)
	if planOnly {
		return p.Plan(ctx, question, on)
	}
	return p.Ask(ctx, question, on)
}

// askQuestion is the question from the arguments, or from in when there are none
// (or the one argument "-").
func askQuestion(in io.Reader, args []string) (string, error) {
	q := strings.Join(args, " ")
	if len(args) == 0 || q == "-" {
		data, err := io.ReadAll(io.LimitReader(in, 1<<20))
		if err != nil {
			return "", fmt.Errorf("reading the question: %w", err)
		}
		q = string(data)
	}
	if strings.TrimSpace(q) == "" {
		return "", errors.New("ask: no question (give it as an argument or on stdin)")
	}
	return q, nil
}

// newPlanner builds the planner the configuration describes.
func newPlanner(cfg *configs.Config, llm engine.LLM, reg *tools.Registry) *planner.Planner {
	pc, sc := cfg.Planner, cfg.Sampling
	prompts := planner.DefaultPrompts()
	if v := pc.Prompts.System; v != "" {
		prompts.Chat.System = v
	}
	if v := pc.Prompts.User; v != "" {
		prompts.Chat.User = v
	}
	if v := pc.Prompts.Assistant; v != "" {
		prompts.Chat.Assistant = v
	}
	if v := pc.Prompts.Plan; v != "" {
		prompts.Plan = v
	}
	return &planner.Planner{
		LLM:     llm,
		Tools:   reg,
		Prompts: prompts,
		Sampling: engine.Sampling{Temperature: sc.Temperature, TopK: sc.TopK, TopP: sc.TopP,
			RepetitionPenalty: sc.RepetitionPenalty, Seed: uint64(sc.Seed)},
		MaxPlanTokens: pc.MaxPlanTokens,
		MaxSteps:      pc.MaxSteps,
		Stop:          pc.Stop,
		Resolve: evidence.Options{Concurrency: pc.Concurrency, StepTimeout: pc.StepTimeout,
			Retries: pc.Retries, MaxInputBytes: pc.MaxInputBytes, MaxExpansion: pc.MaxExpansion},
	}
}

// printAnswerSources writes the answer, then its sources with the steps that used
// them.
func printAnswerSources(w io.Writer, a *planner.Answer) error {
	var b strings.Builder
	b.WriteString(a.Text)
	b.WriteString("\n")
	if len(a.Sources) > 0 {
		b.WriteString("\nSources:\n")
		for i, s := range a.Sources {
			fmt.Fprintf(&b, "  [%d] %s (%s)\n", i+1, s.URL, strings.Join(s.Steps, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printBadPlan shows the plan the model wrote, numbered, and what is wrong with it.
// The error's first line says why in a word (such as the token limit).
func printBadPlan(w io.Writer, tr *planner.Trace, err error) {
	why, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintln(w, strings.TrimSuffix(why, ":")+". The plan:")
	for i, l := range strings.Split(strings.TrimRight(tr.Plan, "\n"), "\n") {
		fmt.Fprintf(w, "%4d | %s\n", i+1, askClip(l, planparser.MaxMessage))
	}
	if len(tr.Diagnostics) == 0 {
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "Problems:")
	for _, d := range tr.Diagnostics {
		fmt.Fprintln(w, "  plan:"+d)
	}
}

// printDone reports, after a run that did not finish (what says how it ended),
// what it got done.
func printDone(w io.Writer, tr *planner.Trace, what string) {
	done := 0
	for _, s := range tr.Steps {
		if s.State == planner.StateDone {
			done++
		}
	}
	fmt.Fprintf(w, "%s after %.1fs: %d of %d steps done\n", what, tr.Timings.Total, done, len(tr.Steps))
	for _, s := range tr.Steps {
		line := fmt.Sprintf("  %-8s %s = %s[%s]", s.State, s.Name, s.Tool, askClipLine(s.Input, 60))
		switch s.State {
		case planner.StateDone:
			line += fmt.Sprintf(" in %.2fs: %s", s.Duration, askClipLine(s.Output, 80))
		case planner.StateFailed, planner.StateSkipped:
			line += ": " + askClipLine(s.Error, 100)
		}
		fmt.Fprintln(w, line)
	}
}
