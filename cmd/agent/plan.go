package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rewoo-agent/agent/planparser"
)

func init() {
	register(command{
		name:    "plan",
		summary: "check a plan (plan check) or draw its DAG in Graphviz DOT (plan dot)",
		run:     runPlan,
	})
}

// loadTools builds the configured tool registry; tests replace it with fakes.
var loadTools = toolRegistry

// maxPlanBytes bounds a plan file; real plans are a few kilobytes.
const maxPlanBytes = 1 << 20

func runPlan(ctx context.Context, io stdio, args []string) error {
	usage := "usage: agent plan check [--tools A,B,...] [--json] FILE|-\n       agent plan dot FILE|-"
	if len(args) == 0 {
		fmt.Fprintln(io.err, usage)
		return exitError{2, errors.New("plan: need a subcommand: check or dot")}
	}
	switch args[0] {
	case "check":
		return runPlanCheck(ctx, io, args[1:])
	case "dot":
		return runPlanDot(io, args[1:])
	}
	fmt.Fprintln(io.err, usage)
	return exitError{2, fmt.Errorf("plan: unknown subcommand %q", args[0])}
}

func runPlanCheck(ctx context.Context, io stdio, args []string) error {
	fs := flag.NewFlagSet("plan check", flag.ContinueOnError)
	fs.SetOutput(io.err)
	toolList := fs.String("tools", "", "comma-separated names of the tools that exist (default: the configured tools)")
	asJSON := fs.Bool("json", false, `print the plan as {"steps":[...],"answer":{...}}`)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: agent plan check [--tools A,B,...] [--json] FILE|-")
		fs.PrintDefaults()
	}
	path, err := onePath(fs, args)
	if err != nil {
		return err
	}
	var names []string
	if toolsGiven(fs) {
		names = splitList(*toolList)
	} else {
		cfg, err := loadConfig("", nil)
		if err != nil {
			return err
		}
		reg, err := loadTools(ctx, cfg, nil)
		if err != nil {
			return err
		}
		names = reg.Names()
	}
	plan, err := readPlan(io, path, planparser.Options{Tools: names})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(io.out).Encode(plan)
	}
	answer := "no answer line"
	if plan.Answer != nil {
		answer = "answer cites " + strings.Join(plan.Answer.Cites(), ", ")
		if len(plan.Answer.Refs) == 0 {
			answer = "answer cites no evidence"
		}
	}
	_, err = fmt.Fprintf(io.out, "ok: %d steps in %d levels, %s\n", len(plan.Steps), len(plan.Levels()), answer)
	return err
}

func runPlanDot(io stdio, args []string) error {
	fs := flag.NewFlagSet("plan dot", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() { fmt.Fprintln(io.err, "usage: agent plan dot FILE|-") }
	path, err := onePath(fs, args)
	if err != nil {
		return err
	}
	plan, err := readPlan(io, path, planparser.Options{})
	if err != nil {
		return err
	}
	return plan.WriteDOT(io.out)
}

// onePath parses flags, which may come before or after the one FILE argument.
func onePath(fs *flag.FlagSet, args []string) (string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", exitError{2, err}
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fs.Usage()
		return "", exitError{2, fmt.Errorf("%s: need exactly one plan file (or - for stdin)", fs.Name())}
	}
	return rest[0], nil
}

func toolsGiven(fs *flag.FlagSet) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "tools" })
	return given
}

func splitList(s string) []string {
	names := []string{}
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// readPlan reads and parses the plan at path ("-" for stdin). Diagnostics go to
// stderr, one per line, and make the error a silent exit 1.
func readPlan(std stdio, path string, opts planparser.Options) (*planparser.Plan, error) {
	var r io.Reader = std.in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	src, err := io.ReadAll(io.LimitReader(r, maxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	if len(src) > maxPlanBytes {
		return nil, fmt.Errorf("plan %s is larger than %d bytes", path, maxPlanBytes)
	}
	plan, err := planparser.Parse(string(src), opts)
	var diags planparser.Diagnostics
	if errors.As(err, &diags) {
		fmt.Fprintln(std.err, diags.Error())
		return nil, exitError{1, errSilent}
	}
	return plan, err
}
