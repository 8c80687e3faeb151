package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
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
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := conf.load()
		if err != nil {
			return err
		}
		return runRun(cmd.Context(), stdioOf(cmd), cfg, args[0], asJSON)
	}
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
	reg, err := loadTools(ctx, cfg, lazy.LLM())
	if err != nil {
		return err
	}
	plan, err := readPlan(ctx, std, path, planparser.Options{Tools: reg.Names()})
	if err != nil {
		return err
	}
	// Load the model before the run rather than inside a step's time limit.
	if lazy != nil && slices.ContainsFunc(plan.Steps, func(s *planparser.Step) bool { return s.Tool == planner.DefaultKnowledgeTool }) {
		if err := lazy.Load(ctx); err != nil {
			return err
		}
	}
	pc := cfg.Planner
	opts := evidence.Options{Concurrency: pc.Concurrency, StepTimeout: pc.StepTimeout, Retries: pc.Retries,
		OnEvent: func(e evidence.Event) { printEvent(std.err, e) }}
	res, runErr := evidence.Resolve(ctx, reg, plan, opts)
	fmt.Fprintf(std.err, "[%7.2fs] done: %s; critical path %s\n", res.Wall.Seconds(), tally(res), strings.Join(res.CriticalPath, " -> "))
	if runErr != nil && timedOut(ctx, errTimeLimit) {
		runErr = errTimeLimit
	}

	answer, ansErr := res.Answer(plan.Answer)
	if asJSON {
		trace := struct {
			Plan        *planparser.Plan `json:"plan"`
			Result      *evidence.Result `json:"result"`
			Answer      *string          `json:"answer"`
			AnswerError string           `json:"answer_error,omitempty"`
		}{Plan: plan, Result: res}
		if !errors.Is(ansErr, evidence.ErrNoCitation) {
			trace.Answer = &answer
		}
		if ansErr != nil {
			trace.AnswerError = ansErr.Error()
		}
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(trace); err != nil {
			return err
		}
	} else if ansErr == nil || errors.Is(ansErr, evidence.ErrNoCitation) {
		// stdout carries an answer or nothing: a failed one is only an error.
		if err := printAnswer(std.out, res, answer, ansErr); err != nil {
			return err
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case ansErr != nil && !errors.Is(ansErr, evidence.ErrNoCitation):
		return ansErr
	}
	return nil
}

// printAnswer writes the answer; a plan whose answer cites nothing gets every
// piece of evidence instead, since resolving it needs a model.
func printAnswer(w io.Writer, res *evidence.Result, answer string, ansErr error) error {
	if !errors.Is(ansErr, evidence.ErrNoCitation) {
		_, err := fmt.Fprintln(w, answer)
		return err
	}
	for _, v := range res.Values {
		if _, err := fmt.Fprintf(w, "%s = %s\n", v.Name, v.Content()); err != nil {
			return err
		}
	}
	return nil
}

// printEvent writes one progress line.
func printEvent(w io.Writer, e evidence.Event) {
	at := fmt.Sprintf("[%7.2fs] %s", e.At.Seconds(), e.Step)
	switch e.Kind {
	case evidence.EventStarted:
		fmt.Fprintf(w, "%s %s started\n", at, e.Tool)
	case evidence.EventRetrying:
		fmt.Fprintf(w, "%s attempt %d failed (%v); retrying in %s\n", at, e.Attempt, e.Err, e.Delay)
	case evidence.EventFinished:
		fmt.Fprintf(w, "%s finished in %.2fs (%d bytes, %d sources)\n", at, e.Duration.Seconds(), e.Value.Bytes, len(e.Value.Sources))
	case evidence.EventFailed:
		fmt.Fprintf(w, "%s failed after %.2fs: %v\n", at, e.Duration.Seconds(), e.Err)
	case evidence.EventSkipped:
		fmt.Fprintf(w, "%s skipped: %s\n", at, e.Reason)
	}
}

// tally counts the steps by status, e.g. "3 ok, 1 failed, 2 skipped".
func tally(res *evidence.Result) string {
	counts := map[evidence.Status]int{}
	for _, v := range res.Values {
		counts[v.Status]++
	}
	parts := []string{}
	for _, s := range []evidence.Status{evidence.OK, evidence.Failed, evidence.Skipped} {
		if counts[s] > 0 || s == evidence.OK {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return strings.Join(parts, ", ")
}
