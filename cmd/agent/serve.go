package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/server"
)

func init() { addCommand(newServeCmd) }

// apiKeysEnv names the variable serve reads its API keys from when no --api-key
// is given: comma-separated.
const apiKeysEnv = "AGENT_API_KEYS"

const serveLong = `Serves the model with OpenAI's HTTP API (package engine/server): POST
/v1/completions (prompt as text or token ids) and /v1/chat/completions (the chat
template applied), streamed or not; GET /v1/models, /health, /metrics
(Prometheus) and /api/ps (what is loaded and until when; agent ps). Point --llm-url of ask, run or batch at it to keep the model loaded
between commands.

The model loads on the first request and unloads after --keep-alive without
requests (-1: never; 0: as soon as the last request ends), loading again on the
next. Up to --max-sequences requests (16 by default) reach the engine at once (the
batching engine's sequences, sharing its steps) and --max-waiting wait their turn;
past that a request gets 503 "server_busy" at once. With --api-key (repeatable) or
$` + apiKeysEnv + ` (comma-separated), /v1/ requests need "Authorization: Bearer KEY".

SIGTERM or Ctrl-C drains: no new requests, the running and waiting ones finish
(for --drain-timeout at most, then they are cancelled), the model is released, and
the command exits 0. A second signal cancels the running requests at once.`

// serveArgs are serve's own flags.
type serveArgs struct {
	addr, keepAlive, name string
	apiKeys               []string
	maxWaiting            int
	drainTimeout          time.Duration
}

func newServeCmd() *cobra.Command {
	var a serveArgs
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "serve the model over OpenAI's HTTP API, loaded on demand and kept loaded",
		Long:  serveLong,
		Args:  noArgs,
	}
	conf := configFlagSet(cmd, engineGroup)
	fs := cmd.Flags()
	fs.StringVar(&a.addr, "addr", server.DefaultAddr, "HOST:PORT to listen on")
	fs.StringVar(&a.keepAlive, "keep-alive", "5m", "how long the model stays loaded without requests, e.g. 30m; -1 is forever")
	fs.StringVar(&a.name, "name", "", "the model's name in the API (default: the model folder's name, the hub reference, or --llm-model)")
	fs.StringArrayVar(&a.apiKeys, "api-key", nil, "an API key requests must carry (repeatable; default $"+apiKeysEnv+")")
	fs.IntVar(&a.maxWaiting, "max-waiting", server.DefaultMaxWaiting, "requests that may wait for their turn before new ones are refused")
	fs.DurationVar(&a.drainTimeout, "drain-timeout", time.Minute, "how long a signal lets running requests finish")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		return runServe(ctx, std, cfg, a)
	})
	return cmd
}

func runServe(ctx context.Context, std stdio, cfg *configs.Config, a serveArgs) error {
	spec, err := checkedSpec("serve", cfg, std.err)
	if err != nil {
		return err
	}
	keepAlive, err := server.ParseKeepAlive(a.keepAlive)
	if err != nil {
		return usageErr("serve: --keep-alive: %v", err)
	}
	if a.maxWaiting < 0 {
		return usageErr("serve: --max-waiting %d: must be >= 0", a.maxWaiting)
	}
	keys, err := server.ParseKeys(a.apiKeys, os.Getenv(apiKeysEnv))
	if err != nil {
		return usageErr("serve: %v", err)
	}
	name := cmp.Or(a.name, spec.Name())
	maxWaiting := a.maxWaiting
	if maxWaiting == 0 {
		maxWaiting = -1 // the server's "none"
	}
	log := slog.New(slog.NewTextHandler(std.err, nil))
	s, err := server.New(server.Options{
		Model: name,
		Load: func(ctx context.Context) (engine.LLM, func() error, error) {
			return open.LLM(ctx, spec)
		},
		KeepAlive:  keepAlive,
		MaxRunning: spec.Sequences(),
		MaxWaiting: maxWaiting,
		APIKeys:    keys,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return exitError{2, fmt.Errorf("serve: %w", err)}
	}
	fmt.Fprintf(std.err, "serving %s at http://%s/v1 (keep-alive %s)\n", name, ln.Addr(), a.keepAlive)
	// ctx ends with the first signal; a second one, or the drain timeout, ends
	// the drain.
	err = s.ServeUntil(ctx, ln, server.SignalDrain(a.drainTimeout, os.Interrupt, syscall.SIGTERM),
		func() { fmt.Fprintln(std.err, "draining: waiting for the running requests") })
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(std.err, "drained")
	return nil
}
