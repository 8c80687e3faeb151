package main

import (
	"context"
	"flag"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// command is a subcommand that still parses its own flags with the flag package
// (agent batch, until its move to the research package lands).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) error
}

func register(c command) {
	addCommand(func() *cobra.Command {
		return &cobra.Command{
			Use:                c.name + " [flags] [args]",
			Short:              c.summary,
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.run(cmd.Context(), stdioOf(cmd), args)
			},
		}
	})
}

// addConfigFlags defines the configuration flags of ask on a flag.FlagSet.
func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cmd := &cobra.Command{}
	c := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		fs.Var(f.Value, f.Name, f.Usage)
	})
	c.setFlags = func(visit func(name, value string)) {
		fs.Visit(func(f *flag.Flag) { visit(f.Name, f.Value.String()) })
	}
	return c
}
