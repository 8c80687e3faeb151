package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/internal/askview"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/fromconfig"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/research"
)

func init() { addCommand(newRunCmd) }

func newRunCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run [flags] PLAN",
		Short: "resolve a given plan with the configured tools and print the answer",
		Long: "Resolves the plan in the file PLAN (- for stdin) with the configured tools, with\n" +
			"the resolver settings of the configuration (planner.step_timeout, planner.retries,\n" +
			"planner.concurrency). The engine serves KnowledgeModel and prompt tools; a plan\n" +
			"that calls none of them loads no model.",
		Args: exactArgs(1, "one plan file (or - for stdin)"),
	}
	conf := configFlagSet(cmd, engineGroup|plannerGroup|toolsGroup)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole trace (plan, evidence, timings, answer) as JSON")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		return runRun(ctx, std, cfg, args[0], asJSON)
	})
	return cmd
}

func runRun(ctx context.Context, std stdio, cfg *configs.Config, path string, asJSON bool) error {
	ctx, cancel, errTimeLimit := withTimeLimit(ctx, cfg)
	defer cancel()
	lazy, err := lazyEngine(cfg, std.err)
	if err != nil {
		return err
	}
	defer lazy.Close()
	reg, err := loadTools(ctx, cfg, planner.Recorded(lazy.LLM()))
	if err != nil {
		return err
	}
	plan, err := readPlan(ctx, std, path, planparser.Options{Tools: reg.Names()}, asJSON)
	if err != nil {
		return err
	}
	// Load the model before the run rather than inside a step's time limit.
	if lazy != nil && slices.ContainsFunc(plan.Steps, func(s *planparser.Step) bool { return s.Tool == planner.DefaultKnowledgeTool }) {
		if err := lazy.Load(ctx); err != nil {
			return err
		}
	}
	p := &planner.Planner{Tools: reg, Resolve: fromconfig.Resolve(cfg.Planner)}
	tr, err := p.Run(ctx, plan, func(e planner.Event) { askview.WriteRunEvent(std.err, e) })
	fmt.Fprintf(std.err, "[%7.2fs] done: %s; critical path %s\n", tr.Timings.StepsDone, tr.Tally(), evidence.PathLine(tr.Timings.CriticalPath))
	if err != nil && research.TimedOut(ctx, errTimeLimit) {
		err = errTimeLimit
	}
	switch {
	case asJSON:
		if err := printJSON(std.out, tr); err != nil {
			return err
		}
	case tr.Answer != nil:
		if _, err := fmt.Fprintln(std.out, tr.Answer.Text); err != nil {
			return err
		}
	case err == nil:
		// A plan whose answer cites nothing gets every piece of evidence instead,
		// since resolving it needs a model; stdout carries nothing after a failure.
		return askview.WriteEvidence(std.out, tr)
	}
	return err
}
