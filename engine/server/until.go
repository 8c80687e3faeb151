package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"
)

// ServeUntil serves on ln until ctx ends, then drains (Shutdown) for as long as
// the context drain makes (called when ctx ends) lives: a drain that ends
// early cancels the running requests. A Serve that fails first ends it too,
// with Serve's error. onDrain, if not nil, is called as the drain starts.
func (s *Server) ServeUntil(ctx context.Context, ln net.Listener, drain func() (context.Context, context.CancelFunc), onDrain func()) error {
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	select {
	case err := <-served:
		s.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	if onDrain != nil {
		onDrain()
	}
	dctx, cancel := drain()
	defer cancel()
	err := s.Shutdown(dctx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// SignalDrain is a drain for ServeUntil that lasts timeout at most, and ends
// early at one of sigs (a second Ctrl-C or SIGTERM: the running requests are
// cancelled at once).
func SignalDrain(timeout time.Duration, sigs ...os.Signal) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		drain, stop := signal.NotifyContext(context.Background(), sigs...)
		drain, cancel := context.WithTimeout(drain, timeout)
		return drain, func() { cancel(); stop() }
	}
}

// ParseKeepAlive reads a keep-alive as ollama's keep_alive and agent serve's
// --keep-alive write it: a duration, -1 (or any negative duration) for forever,
// 0 for none, as Options.KeepAlive takes it.
func ParseKeepAlive(s string) (time.Duration, error) {
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
		return time.Nanosecond, nil // Options' 0 is its default
	}
	return d, nil
}

// ErrAPIKey reports an API key that is empty or holds white space.
var ErrAPIKey = errors.New("an API key may not be empty or hold white space")

// ParseKeys checks the API keys given one by one, or when there are none,
// reads them from list, comma-separated (as $AGENT_API_KEYS holds them).
func ParseKeys(keys []string, list string) ([]string, error) {
	if len(keys) == 0 {
		for _, k := range strings.Split(list, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n") {
			return nil, ErrAPIKey
		}
	}
	return keys, nil
}
