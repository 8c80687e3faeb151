// Command agent answers questions with the reWOO method: a local GPTQ LLaMA (or a
// remote OpenAI-compatible server) writes a plan, the plan's tool calls run as soon
// as their inputs exist, and the answer is resolved from the evidence.
//
// main only wires things together: each subcommand lives in its own file and
// registers itself in init with register. The command line is cobra's: flags
// anywhere among the arguments, "--" ends them, help on stdout, shell completion
// (agent completion bash|zsh|fish) and --version come with it. Exit codes are set
// here only: 1 for errors, 2 for usage errors, 130 after an interrupt.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine"
	_ "github.com/rewoo-agent/agent/engine/open" // registers the backends
	"github.com/rewoo-agent/agent/internal/buildinfo"
	"github.com/rewoo-agent/agent/internal/telemetry"
)

// stdio is what a subcommand reads and writes; tests substitute buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// stdioOf is the stdio the command runs with.
func stdioOf(cmd *cobra.Command) stdio {
	return stdio{cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()}
}

// commands make the subcommands, afresh for each run (cobra commands hold their
// flags' values).
var commands []func() *cobra.Command

func addCommand(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// usageErr is a usage error (exit 2).
func usageErr(format string, args ...any) error {
	return exitError{2, fmt.Errorf(format, args...)}
}

// printJSON writes v to w as indented JSON, for a command's --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errSilent is an error whose message has already been printed (e.g. diagnostics).
var errSilent = errors.New("")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopTracing := telemetry.Start(ctx, os.Getenv, os.Stderr)
	err := run(ctx, stdio{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	interrupted := ctx.Err() != nil // before stop, which cancels ctx too
	stop()
	stopTracing()
	if err == nil {
		return
	}
	code := 1
	var ee exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "agent:", err)
	}
	if interrupted && code == 1 {
		code = 130
	}
	os.Exit(code)
}

// run runs the command line args. An error from before a command's own work
// begins (an unknown command or flag, bad arguments) is a usage error.
func run(ctx context.Context, std stdio, args []string) error {
	root, reached := newRoot()
	root.SetArgs(args)
	root.SetIn(std.in)
	root.SetOut(std.out)
	root.SetErr(std.err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil || *reached {
		return err
	}
	var ee exitError
	if errors.As(err, &ee) {
		return err
	}
	return exitError{2, usageHint{err, cmd.CommandPath()}}
}

// usageHint is a usage error that points at the command's help.
type usageHint struct {
	err error
	cmd string
}

func (u usageHint) Error() string { return u.err.Error() + "\nRun '" + u.cmd + " --help' for usage." }
func (u usageHint) Unwrap() error { return u.err }

// newRoot builds the command tree; *reached turns true once a command's own
// work begins, past cobra's parsing and checking of the arguments.
func newRoot() (*cobra.Command, *bool) {
	reached := new(bool)
	root := &cobra.Command{
		Use:           "agent",
		Short:         "Answer questions with a reWOO plan: a local GPTQ model or a server plans, tools gather the evidence",
		Version:       buildinfo.Version(engine.Backends()),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(*cobra.Command, []string) {
			*reached = true
		},
	}
	root.SetVersionTemplate("agent {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	return root, reached
}

// Argument checks whose failure is a usage error.

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s: want %s, got %d arguments", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}
