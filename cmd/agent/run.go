package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
)

func init() {
	register(command{
		name:    "run",
		summary: "resolve a given plan with the configured tools and print the answer",
		run:     runRun,
	})
}

// runOptions are agent run's resolver settings: generous for web tools, bounded
// so an unattended job never hangs on one call.
var runOptions = evidence.Options{
	StepTimeout: 2 * time.Minute,
	Retries:     2,
}

func runRun(ctx context.Context, std stdio, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(std.err)
	toolsConfig := fs.String("tools-config", "", "YAML file of custom tools")
	asJSON := fs.Bool("json", false, "print the whole trace (plan, evidence, timings, answer) as JSON")
	var engineFlags []struct{ name, key, usage string }
	for _, f := range askFlags {
		if f.name == "model" || f.name == "llm-url" {
			fs.String(f.name, "", f.usage+", for KnowledgeModel (config "+f.key+")")
			engineFlags = append(engineFlags, f)
		}
	}
	fs.Usage = func() {
		fmt.Fprintln(std.err, "usage: agent run [--tools-config FILE] [--model DIR | --llm-url URL] [--json] PLAN")
		fs.PrintDefaults()
	}
	path, err := onePath(fs, args)
	if err != nil {
		return err
	}
	settings := toolsFileSetting(*toolsConfig)
	for _, f := range engineFlags {
		if v := fs.Lookup(f.name).Value.String(); v != "" {
			settings = append(settings, configs.Setting{Key: f.key, Value: v, Flag: "--" + f.name})
		}
	}
	cfg, err := loadConfig("", settings)
	if err != nil {
		return err
	}
	// The configured engine serves KnowledgeModel and prompt tools; a plan that
	// calls none of them loads no model.
	lazy := newLazyLLM(cfg.Engine, std.err)
	defer lazy.close()
	reg, err := loadTools(ctx, cfg, planner.Recorded(lazy.engine()))
	if err != nil {
		return err
	}
	plan, err := readPlan(std, path, planparser.Options{Tools: reg.Names()})
	if err != nil {
		return err
	}
	// Load the model before the run rather than inside a step's time limit.
	if lazy != nil && slices.ContainsFunc(plan.Steps, func(s *planparser.Step) bool { return s.Tool == planner.DefaultKnowledgeTool }) {
		if err := lazy.load(ctx); err != nil {
			return err
		}
	}
	p := &planner.Planner{Tools: reg, Resolve: runOptions}
	tr, err := p.Run(ctx, plan, func(e planner.Event) { printEvent(std.err, e) })
	fmt.Fprintf(std.err, "[%7.2fs] done: %s; critical path %s\n", tr.Timings.StepsDone, tally(tr), evidence.PathLine(tr.Timings.CriticalPath))
	switch {
	case *asJSON:
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tr); err != nil {
			return err
		}
	case tr.Answer != nil:
		if _, err := fmt.Fprintln(std.out, tr.Answer.Text); err != nil {
			return err
		}
	case err == nil:
		// A plan whose answer cites nothing gets every piece of evidence instead,
		// since resolving it needs a model; stdout carries nothing after a failure.
		for _, s := range tr.Steps {
			if _, err := fmt.Fprintf(std.out, "%s = %s\n", s.Name, stepContent(s)); err != nil {
				return err
			}
		}
	}
	return err
}

// stepContent is what a reference to the step's evidence reads as.
func stepContent(s *planner.StepTrace) string {
	if s.State == planner.StateDone {
		return s.Output
	}
	return fmt.Sprintf("(no evidence: %s %s: %s)", s.Name, s.State, s.Error)
}

// printEvent writes one progress line.
func printEvent(w io.Writer, e planner.Event) {
	at := fmt.Sprintf("[%7.2fs] %s", e.At.Seconds(), e.Step.Name)
	switch e.Kind {
	case planner.StepStarted:
		fmt.Fprintf(w, "%s %s started\n", at, e.Step.Tool)
	case planner.StepRetrying:
		fmt.Fprintf(w, "%s attempt %d failed (%v); retrying in %s\n", at, e.Attempt-1, e.Err, e.Delay)
	case planner.StepFinished:
		fmt.Fprintf(w, "%s finished in %.2fs (%d bytes, %d sources)\n", at, e.Step.Duration, e.Step.Bytes, len(e.Step.Sources))
	case planner.StepFailed:
		fmt.Fprintf(w, "%s failed after %.2fs: %v\n", at, e.Step.Duration, e.Err)
	case planner.StepSkipped:
		fmt.Fprintf(w, "%s skipped: %s\n", at, e.Text)
	}
}

// tally counts the steps by state, e.g. "3 ok, 1 failed, 2 skipped".
func tally(tr *planner.Trace) string {
	counts := map[string]int{}
	for _, s := range tr.Steps {
		counts[s.State]++
	}
	parts := []string{fmt.Sprintf("%d ok", counts[planner.StateDone])}
	for _, st := range []string{planner.StateFailed, planner.StateSkipped} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return strings.Join(parts, ", ")
}
