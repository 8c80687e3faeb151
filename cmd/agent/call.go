package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/funcall"
	"github.com/rewoo-agent/agent/research"
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
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		question, err := askQuestion(ctx, std.in, args)
		if err != nil {
			return err
		}
		return runCall(ctx, std, cfg, question, a)
	})
	return cmd
}

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
	spec, err := checkedSpec("call", cfg, std.err)
	if err != nil {
		return err
	}
	sampling := open.Sampling(cfg.Sampling)
	if err := sample.Validate(sampling); err != nil {
		return usageErr("call: %v", err)
	}

	llm, local, closeLLM, err := openEngine(ctx, spec)
	if err != nil {
		return err
	}
	defer closeLLM()
	if local != nil && local.Tokenizer == nil {
		return fmt.Errorf("call: the model in %s has no tokenizer (give --tokenizer)", local.Dir)
	}
	reg, err := loadTools(ctx, cfg, llm)
	if err != nil {
		return err
	}
	set, err := funcall.ForTools(reg, extra...)
	if err != nil {
		return exitError{2, err}
	}

	rec := funcall.Record{Constrained: local != nil && !a.noConstraint && format == funcall.JSON}
	answer := funcall.Unconstrained(llm, sampling, a.maxTokens, func(res engine.Result) {
		fmt.Fprintf(std.err, "%d prompt tokens, %d tokens in %.2fs, stop: %s\n", res.PromptTokens, res.Tokens, res.GenTime.Seconds(), res.Stop)
	})
	if rec.Constrained {
		// The constraint drives the model itself. The generator that tools
		// such as KnowledgeModel use later has fed nothing yet, so it feeds
		// their prompts from position 0 and never trusts this cache.
		answer = set.Constrained(local.Model, local.Tokenizer, local.Generator.PromptIDs, sampling, a.maxTokens, func(d funcall.Decoded) {
			fmt.Fprintf(std.err, "%d prompt tokens in %.2fs, %d tokens in %.2fs (masks %.2fs)\n",
				d.PromptTokens, d.PromptTime.Seconds(), len(d.IDs), d.GenTime.Seconds(), d.MaskTime.Seconds())
		})
	}

	ctx, cancel, limit := withTimeLimit(ctx, cfg)
	defer cancel()
	err = set.Choose(ctx, answer, question, format, &rec)
	if research.TimedOut(ctx, limit) {
		return limit
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(std.err, "call  %s → %s[%s]\n", rec.Call(), rec.Tool, rec.Input)
	if a.dryRun {
		if a.asJSON {
			return json.NewEncoder(std.out).Encode(rec)
		}
		_, err := fmt.Fprintln(std.out, rec.Call())
		return err
	}
	err = funcall.Run(ctx, reg, &rec)
	if research.TimedOut(ctx, limit) {
		return fmt.Errorf("%s[%s]: %w", rec.Tool, rec.Input, limit)
	}
	if err != nil {
		return err
	}
	if a.asJSON {
		return json.NewEncoder(std.out).Encode(rec)
	}
	return rec.Result.WriteText(std.out)
}
