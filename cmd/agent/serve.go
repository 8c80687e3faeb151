package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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
next. One request at a time reaches the engine and --max-waiting wait their turn;
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
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := conf.load()
		if err != nil {
			return err
		}
		return runServe(cmd.Context(), stdioOf(cmd), cfg, a)
	}
	return cmd
}

func runServe(ctx context.Context, std stdio, cfg *configs.Config, a serveArgs) error {
	spec, err := checkedSpec("serve", cfg, std.err)
	if err != nil {
		return err
	}
	keepAlive, err := parseKeepAlive(a.keepAlive)
	if err != nil {
		return usageErr("serve: --keep-alive: %v", err)
	}
	if a.maxWaiting < 0 {
		return usageErr("serve: --max-waiting %d: must be >= 0", a.maxWaiting)
	}
	keys := a.apiKeys
	if len(keys) == 0 {
		keys = splitKeys(os.Getenv(apiKeysEnv))
	}
	for _, k := range keys {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n") {
			return usageErr("serve: an API key may not be empty or hold white space")
		}
	}
	name := a.name
	if name == "" {
		name = servedName(spec)
	}
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
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	select {
	case err := <-served:
		s.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}

	// ctx ended with the first signal; a second one, or the drain timeout, ends
	// the drain.
	fmt.Fprintln(std.err, "draining: waiting for the running requests")
	drain, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	drain, cancel := context.WithTimeout(drain, a.drainTimeout)
	defer cancel()
	err = s.Shutdown(drain)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("serve: drain: %w", err)
	}
	fmt.Fprintln(std.err, "drained")
	return nil
}

// parseKeepAlive reads --keep-alive: a duration, -1 for forever, 0 for none.
func parseKeepAlive(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "-1" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q: want a duration such as 5m, or -1 for forever", s)
	case d < 0:
		return -1, nil
	case d == 0:
		return time.Nanosecond, nil // the server's 0 is its default
	}
	return d, nil
}

func splitKeys(s string) []string {
	var keys []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// servedName is the model's default name in the API: the folder's name, or the
// hub reference as given, or the remote server's model name.
func servedName(spec open.Spec) string {
	switch {
	case spec.URL != "" && spec.ServerModel != "":
		return spec.ServerModel
	case spec.URL != "":
		return "default"
	}
	if fi, err := os.Stat(spec.Model); err == nil && fi.IsDir() {
		abs, err := filepath.Abs(spec.Model)
		if err == nil {
			return filepath.Base(abs)
		}
	}
	return spec.Model
}
