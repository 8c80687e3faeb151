package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/planparser"
)

func init() { addCommand(newPlanCmd) }

// loadTools builds the configured tool registry; tests replace it with fakes.
var loadTools = toolRegistry

// maxPlanBytes bounds a plan file; real plans are a few kilobytes.
const maxPlanBytes = 1 << 20

func newPlanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "check a plan (plan check) or draw its DAG in Graphviz DOT (plan dot)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("plan: unknown subcommand %q (want check or dot)", args[0])
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error {
			return usageErr("plan: need a subcommand: check or dot")
		},
	}
	cmd.AddCommand(newPlanCheckCmd(), newPlanDotCmd())
	return cmd
}

func newPlanCheckCmd() *cobra.Command {
	var (
		toolList []string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "check [flags] FILE|-",
		Short: "check a plan: its syntax, its references and that its tools exist",
		Args:  exactArgs(1, "one plan file (or - for stdin)"),
	}
	conf := configFlagSet(cmd, toolsGroup)
	cmd.Flags().StringSliceVar(&toolList, "tools", nil, "names of the tools that exist, e.g. A,B (default: the configured tools)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the plan as {"steps":[...],"answer":{...}}; an invalid one as {"plan":"...","diagnostics":[...]}`)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		std := stdioOf(cmd)
		names := toolList
		if !cmd.Flags().Changed("tools") {
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			reg, err := loadTools(cmd.Context(), cfg, nil)
			if err != nil {
				return err
			}
			names = reg.Names()
		}
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == "" })
		plan, err := readPlan(cmd.Context(), std, args[0], planparser.Options{Tools: names}, asJSON)
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(std.out).Encode(plan)
		}
		_, err = fmt.Fprintln(std.out, "ok: "+plan.Summary())
		return err
	}
	return cmd
}

func newPlanDotCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dot FILE|-",
		Short: "draw a plan's DAG in Graphviz DOT",
		Args:  exactArgs(1, "one plan file (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			std := stdioOf(cmd)
			plan, err := readPlan(cmd.Context(), std, args[0], planparser.Options{}, false)
			if err != nil {
				return err
			}
			return plan.WriteDOT(std.out)
		},
	}
}

// readPlan reads and parses the plan at path ("-" for stdin). Diagnostics go to
// stderr, one per line, and make the error a silent exit 1; with asJSON stdout
// also gets them, as the trace's plan and diagnostics.
func readPlan(ctx context.Context, std stdio, path string, opts planparser.Options, asJSON bool) (*planparser.Plan, error) {
	src, err := input.File(ctx, std.in, path, maxPlanBytes)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	plan, err := planparser.Parse(string(src), opts)
	var diags planparser.Diagnostics
	if errors.As(err, &diags) {
		fmt.Fprintln(std.err, diags.Error())
		if asJSON {
			json.NewEncoder(std.out).Encode(struct {
				Plan        string   `json:"plan"`
				Diagnostics []string `json:"diagnostics"`
			}{string(src), strings.Split(diags.Error(), "\n")})
		}
		return nil, exitError{1, errSilent}
	}
	return plan, err
}
