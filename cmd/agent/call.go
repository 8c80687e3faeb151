package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/funcall"
	"github.com/rewoo-agent/agent/tools"
)

func init() { addCommand(newCallCmd) }

const callLong = `The model is shown the tools (and the functions of --functions) in the Airoboros
function-calling format and answers {"function": ..., "params": {...}}; the call is
checked (an unknown function or param, a missing required param, a wrong type), sent
back once with what was wrong if it fails, then its tool runs and the result goes to
stdout. A local model decodes under a constraint that admits only valid calls, so it
needs no repair; a server's answer is checked and repaired. Each tool is a function
of one param, input; a --functions YAML file adds functions with typed params (or
replaces a tool's), mapped onto a tool's input by a template:

  functions:
    - name: weather
      description: The current weather of a city.
      tool: Weather              # default: the tool named like the function
      input: "{{.city}}"         # default: the single param, or the params as JSON
      params:
        - {name: city, type: string, description: The city., required: true}

Sampling is the configuration's (greedy by default); planner.timeout bounds the
choice and the tool's run together.`

// callArgs are call's own flags.
type callArgs struct {
	functions    string
	format       string
	maxTokens    int
	dryRun       bool
	asJSON       bool
	noConstraint bool
}

func newCallCmd() *cobra.Command {
	var a callArgs
	cmd := &cobra.Command{
		Use:   "call [flags] QUESTION",
		Short: "let the model pick a tool and its params for a question (function calling), and run it",
		Long:  callLong,
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|toolsGroup)
	fs := cmd.Flags()
	fs.StringVar(&a.functions, "functions", "", "YAML file of functions with typed params (see above)")
	fs.StringVar(&a.format, "format", "json", "answer format asked of the model: json or yaml (yaml is never constrained)")
	fs.IntVar(&a.maxTokens, "max-tokens", 0, "new tokens at most per answer (0: as many as the longest valid call, or 512 unconstrained)")
	fs.BoolVar(&a.dryRun, "dry-run", false, "print the chosen call without running its tool")
	fs.BoolVar(&a.asJSON, "json", false, "print {function, params, tool, input, result, answers, timings} as JSON")
	fs.BoolVar(&a.noConstraint, "no-constraint", false, "local model: decode freely, then check and repair as for a server")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		std := stdioOf(cmd)
		cfg, err := conf.load()
		if err != nil {
			return err
		}
		question, err := askQuestion(cmd.Context(), std.in, args)
		if err != nil {
			return err
		}
		return runCall(cmd.Context(), std, cfg, question, a)
	}
	return cmd
}

// unconstrainedTokens bounds an answer written without the constraint.
const unconstrainedTokens = 512

// callRecord is what call --json prints.
type callRecord struct {
	Function string         `json:"function"`
	Params   map[string]any `json:"params"`
	Tool     string         `json:"tool"`
	Input    string         `json:"input"`
	Result   *callResult    `json:"result,omitempty"` // absent with --dry-run
	// Answers are the model's texts: the first, and the repaired one if any.
	Answers     []string `json:"answers"`
	Constrained bool     `json:"constrained"`
	Timings     struct {
		GenerateMS float64 `json:"generate_ms"`
		ToolMS     float64 `json:"tool_ms,omitempty"`
	} `json:"timings"`
}

type callResult struct {
	Text    string   `json:"text"`
	Sources []string `json:"sources,omitempty"`
}

// answerer writes one answer to a prompt.
type answerer func(ctx context.Context, prompt string) (string, error)

func runCall(ctx context.Context, std stdio, cfg *configs.Config, question string, a callArgs) error {
	format := funcall.Format(strings.ToUpper(a.format))
	if format != funcall.JSON && format != funcall.YAML {
		return usageErr("call: --format %q: want json or yaml", a.format)
	}
	if a.maxTokens < 0 {
		return usageErr("call: --max-tokens %d: must be >= 0", a.maxTokens)
	}
	var extra []funcall.Function
	if a.functions != "" {
		var err error
		if extra, err = funcall.LoadFile(a.functions); err != nil {
			return exitError{2, err}
		}
	}
	spec, err := engineSpec(cfg, std.err)
	if err != nil {
		return err
	}
	if err := spec.Check(); err != nil {
		return usageErr("call: need exactly one of --model and --llm-url (or $AGENT_MODEL, $AGENT_LLM_URL, engine.model, engine.llm_url): %v", err)
	}
	sc := cfg.Sampling
	sampling := engine.Sampling{Temperature: sc.Temperature, TopK: sc.TopK, TopP: sc.TopP,
		RepetitionPenalty: sc.RepetitionPenalty, Seed: uint64(sc.Seed)}
	if err := sample.Validate(sampling); err != nil {
		return usageErr("call: %v", err)
	}

	var (
		llm   engine.LLM
		local *open.Loaded
	)
	if spec.URL != "" {
		server, closeLLM, err := open.LLM(ctx, spec)
		if err != nil {
			return exitError{2, err}
		}
		defer closeLLM()
		llm = server
	} else {
		if local, err = open.Model(ctx, spec); err != nil {
			return err
		}
		defer local.Close()
		if local.Tokenizer == nil {
			return fmt.Errorf("call: the model in %s has no tokenizer (give --tokenizer)", local.Dir)
		}
		llm = local.Generator
	}
	reg, err := loadTools(ctx, cfg, llm)
	if err != nil {
		return err
	}
	set, err := funcall.NewSet(funcall.FromTools(reg.All(), extra...)...)
	if err != nil {
		return exitError{2, err}
	}
	for _, f := range set.Functions() {
		if tool := cmp.Or(f.Tool, f.Name); !reg.Has(tool) {
			return exitError{2, fmt.Errorf("function %q: %w %q (the tools are %s)", f.Name, tools.ErrUnknownTool, tool, strings.Join(reg.Names(), ", "))}
		}
	}

	rec := callRecord{Constrained: local != nil && !a.noConstraint && format == funcall.JSON}
	var answer answerer
	if rec.Constrained {
		// The constraint drives the model itself. The generator that tools
		// such as KnowledgeModel use later has fed nothing yet, so it feeds
		// their prompts from position 0 and never trusts this cache.
		masker := funcall.NewMasker(funcall.NewAutomaton(set, funcall.DefaultLimits), funcall.TokenizerVocab(local.Tokenizer))
		answer = func(ctx context.Context, prompt string) (string, error) {
			d, err := funcall.Generate(ctx, local.Model, masker, local.Generator.PromptIDs(prompt), sampling, a.maxTokens)
			fmt.Fprintf(std.err, "%d prompt tokens in %.2fs, %d tokens in %.2fs (masks %.2fs)\n",
				d.PromptTokens, d.PromptTime.Seconds(), len(d.IDs), d.GenTime.Seconds(), d.MaskTime.Seconds())
			return d.Text, err
		}
	} else {
		limit := cmp.Or(a.maxTokens, unconstrainedTokens)
		answer = func(ctx context.Context, prompt string) (string, error) {
			res, err := llm.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: limit, Sampling: sampling, Stop: chat.Airoboros.Stops()}, nil)
			if err == nil {
				fmt.Fprintf(std.err, "%d prompt tokens, %d tokens in %.2fs, stop: %s\n", res.PromptTokens, res.Tokens, res.GenTime.Seconds(), res.Stop)
			}
			return res.Text, err
		}
	}

	ctx, cancel, limit := withTimeLimit(ctx, cfg)
	defer cancel()
	begin := time.Now()
	call, err := chooseCall(ctx, set, answer, question, format, &rec)
	rec.Timings.GenerateMS = ms(time.Since(begin))
	if timedOut(ctx, limit) {
		return limit
	}
	if err != nil {
		return err
	}
	tool, input, err := set.ToolInput(call)
	if err != nil {
		return err
	}
	rec.Function, rec.Params, rec.Tool, rec.Input = call.Function, call.Params, tool, input
	fmt.Fprintf(std.err, "call  %s → %s[%s]\n", call, tool, input)
	if a.dryRun {
		if a.asJSON {
			return json.NewEncoder(std.out).Encode(rec)
		}
		_, err := fmt.Fprintln(std.out, call)
		return err
	}
	t, err := reg.Get(tool)
	if err != nil {
		return err
	}
	begin = time.Now()
	out, err := t.Call(ctx, tools.Request{Input: input, Raw: input})
	rec.Timings.ToolMS = ms(time.Since(begin))
	if timedOut(ctx, limit) {
		return fmt.Errorf("%s[%s]: %w", tool, input, limit)
	}
	if err != nil {
		return fmt.Errorf("%s[%s]: %w", tool, input, err)
	}
	rec.Result = &callResult{Text: out.Text, Sources: out.Sources}
	if a.asJSON {
		return json.NewEncoder(std.out).Encode(rec)
	}
	text := strings.TrimRight(out.Text, "\n")
	if len(out.Sources) > 0 {
		text += "\n\nSources:"
		for i, s := range out.Sources {
			text += fmt.Sprintf("\n  [%d] %s", i+1, s)
		}
	}
	_, err = fmt.Fprintln(std.out, text)
	return err
}

// errNoCall is returned when neither the answer nor its repair is a valid call.
var errNoCall = errors.New("the model did not answer with a valid call")

// chooseCall asks for a call; an invalid answer goes back to the model once
// with what was wrong with it.
func chooseCall(ctx context.Context, set *funcall.Set, answer answerer, question string, format funcall.Format, rec *callRecord) (funcall.Call, error) {
	prompt, err := set.Prompt(chat.Airoboros, question, format)
	if err != nil {
		return funcall.Call{}, usageErr("call: %v", err)
	}
	first, err := answer(ctx, prompt)
	rec.Answers = append(rec.Answers, first)
	if err != nil {
		return funcall.Call{}, fmt.Errorf("call: %w", err)
	}
	call, firstErr := set.Parse(first)
	if firstErr == nil {
		return call, nil
	}
	repair, err := set.Repair(question, format, first, firstErr)
	if err != nil {
		return funcall.Call{}, err
	}
	second, err := answer(ctx, chat.Airoboros.Prompt(repair))
	rec.Answers = append(rec.Answers, second)
	if err != nil {
		return funcall.Call{}, fmt.Errorf("call: repairing %q (%v): %w", strings.TrimSpace(first), firstErr, err)
	}
	call, secondErr := set.Parse(second)
	if secondErr != nil {
		return funcall.Call{}, fmt.Errorf("%w:\nfirst answer: %s\n  %v\nrepaired answer: %s\n  %v",
			errNoCall, strings.TrimSpace(first), firstErr, strings.TrimSpace(second), secondErr)
	}
	return call, nil
}
