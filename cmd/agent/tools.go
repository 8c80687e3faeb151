package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/tools"
)

func init() { addCommand(newToolsCmd) }

func newToolsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tools",
		Short: "list the tools plans may call (tools), or run one (tools call NAME INPUT)",
		Args:  noArgs,
	}
	conf := configFlagSet(cmd, toolsGroup)
	cmd.Flags().BoolVar(&asJSON, "json", false, "list the tools as JSON [{name, description}]")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		reg, err := loadTools(ctx, cfg, nil)
		if err != nil {
			return err
		}
		return listTools(std, reg, asJSON)
	})
	cmd.AddCommand(newToolsCallCmd())
	return cmd
}

func newToolsCallCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "call [flags] NAME INPUT...",
		Short: "run one tool on INPUT (its words joined by spaces; - reads it from stdin) and print its output",
		Long: "Runs the tool NAME on INPUT and prints its output; its sources go to stderr.\n" +
			"KnowledgeModel and prompt tools call the configured engine, which loads only then.\n" +
			"An INPUT that starts with - goes after --.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr("tools call: need a tool name and its input")
			}
			return nil
		},
	}
	conf := configFlagSet(cmd, engineGroup|toolsGroup)
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		return runToolsCall(ctx, std, cfg, args[0], args[1:])
	})
	return cmd
}

func runToolsCall(ctx context.Context, std stdio, cfg *configs.Config, name string, words []string) error {
	text, err := input.Text(ctx, std.in, words, maxStdin)
	if err != nil {
		return fmt.Errorf("tools call %s: the input: %w", name, err)
	}
	// The model opens only if the tool calls it (KnowledgeModel, prompt tools).
	lazy, err := lazyEngine(cfg, std.err)
	if err != nil {
		return err
	}
	defer lazy.Close()
	reg, err := loadTools(ctx, cfg, lazy.LLM())
	if err != nil {
		return err
	}
	out, err := reg.Run(ctx, name, text)
	if errors.Is(err, tools.ErrUnknownTool) {
		return fmt.Errorf("%w (agent tools lists them)", err)
	}
	if err != nil {
		return err
	}
	return out.WriteText(std.out, std.err)
}

// listTools prints each tool as the planner shows it: Name[input]: description.
func listTools(std stdio, reg *tools.Registry, asJSON bool) error {
	if asJSON {
		return printJSON(std.out, reg.Entries())
	}
	return reg.WriteList(std.out)
}
