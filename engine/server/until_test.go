package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// serveUntil starts ServeUntil for f and returns the server's URL, a cancel
// that starts the drain, a channel closed as the drain starts, and ServeUntil's
// result.
func serveUntil(t *testing.T, f *fakeLLM, drain func() (context.Context, context.CancelFunc)) (string, context.CancelFunc, chan struct{}, chan error) {
	t.Helper()
	s, err := New(Options{Model: model, Load: func(context.Context) (engine.LLM, func() error, error) { return f, nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	draining, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- s.ServeUntil(ctx, ln, drain, func() { close(draining) }) }()
	return "http://" + ln.Addr().String(), cancel, draining, done
}

func complete(url string) (int, string, error) {
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt": "the sky"}`))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestServeUntilDrains: the request running when ctx ends finishes whole.
func TestServeUntilDrains(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	f := &fakeLLM{reply: echo, gate: gate, started: started}
	url, cancel, draining, done := serveUntil(t, f, func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.Background())
	})
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		code, body, err := complete(url)
		got <- answer{code, body, err}
	}()
	<-started
	cancel()
	<-draining
	close(gate)
	a := <-got
	if a.err != nil || a.code != http.StatusOK || !strings.Contains(a.body, "you said: the sky") {
		t.Errorf("the running request: %d %q %v", a.code, a.body, a.err)
	}
	if err := <-done; err != nil {
		t.Errorf("ServeUntil = %v", err)
	}
	if _, _, err := complete(url); err == nil {
		t.Error("a request after the drain was answered")
	}
}

// TestServeUntilDrainEnds: a drain whose context ends cancels the running
// request, and ServeUntil says so.
func TestServeUntilDrainEnds(t *testing.T) {
	started := make(chan struct{}, 1)
	f := &fakeLLM{reply: echo, hold: 1, cancelled: make(chan error, 1), started: started}
	url, cancel, _, done := serveUntil(t, f, func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	})
	go complete(url)
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "drain: ") {
		t.Errorf("ServeUntil = %v, want a drain cut short", err)
	}
	if err := <-f.cancelled; err == nil {
		t.Error("the running request was not cancelled")
	}
}

func TestServeUntilServeFails(t *testing.T) {
	s, err := New(Options{Model: model, Load: func(context.Context) (engine.LLM, func() error, error) { return &fakeLLM{reply: echo}, nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = s.ServeUntil(t.Context(), ln, nil, nil)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("ServeUntil on a closed listener = %v", err)
	}
}

func TestParseKeepAlive(t *testing.T) {
	for in, want := range map[string]time.Duration{"5m": 5 * time.Minute, "-1": -1, "-1s": -1, "0": time.Nanosecond, "90s": 90 * time.Second} {
		d, err := ParseKeepAlive(in)
		if err != nil || d != want {
			t.Errorf("ParseKeepAlive(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"1", "", "soon"} {
		if _, err := ParseKeepAlive(in); err == nil {
			t.Errorf("ParseKeepAlive(%q) accepted", in)
		}
	}
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		keys []string
		list string
		want []string
		err  bool
	}{
		{nil, "", nil, false},
		{nil, " a, b ,,c", []string{"a", "b", "c"}, false},
		{[]string{"x"}, "a,b", []string{"x"}, false},
		{[]string{" "}, "", nil, true},
		{[]string{"a b"}, "", nil, true},
		{nil, "a b", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseKeys(tt.keys, tt.list)
		if tt.err {
			if !errors.Is(err, ErrAPIKey) {
				t.Errorf("ParseKeys(%q, %q) = %v, %v; want ErrAPIKey", tt.keys, tt.list, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseKeys(%q, %q) = %q, %v; want %q", tt.keys, tt.list, got, err, tt.want)
		}
	}
}

// TestSignalDrain: the drain ends at its timeout, or at once at a signal.
func TestSignalDrain(t *testing.T) {
	ctx, cancel := SignalDrain(time.Nanosecond, syscall.SIGUSR1)()
	<-ctx.Done()
	cancel()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("at the timeout: %v", ctx.Err())
	}
	ctx, cancel = SignalDrain(time.Hour, syscall.SIGUSR1)()
	defer cancel()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done() // the test's deadline bounds the wait
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after the signal: %v", ctx.Err())
	}
}
