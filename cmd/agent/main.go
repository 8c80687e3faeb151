// Command agent answers questions with the reWOO method: a local GPTQ LLaMA (or a
// remote OpenAI-compatible server) writes a plan, the plan's tool calls run as soon
// as their inputs exist, and the answer is resolved from the evidence.
//
// main only wires things together: each subcommand lives in its own file and
// registers itself in init with register.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// stdio is what a subcommand reads and writes; tests substitute buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// errSilent is an error whose message has already been printed (e.g. diagnostics).
var errSilent = errors.New("")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, stdio{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	interrupted := ctx.Err() != nil // before stop, which cancels ctx too
	stop()
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

func run(ctx context.Context, io stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.out)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(io.err)
		return exitError{2, fmt.Errorf("unknown command %q", args[0])}
	}
	return c.run(ctx, io, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: agent COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
}
