package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

// startServe runs agent serve with args until the returned stop is called (the
// signal), and returns its base URL. stop returns the command's stderr and error.
func startServe(t *testing.T, args ...string) (url string, stop func() (string, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, stdio{strings.NewReader(""), io.Discard, pw}, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
		pw.CloseWithError(err)
		done <- err
	}()
	lines := make(chan string)
	var log strings.Builder
	logged := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if _, rest, ok := strings.Cut(sc.Text(), " at http://"); ok && strings.HasPrefix(sc.Text(), "serving ") {
				lines <- "http://" + strings.Fields(rest)[0]
			}
		}
		close(lines)
		logged <- log.String()
	}()
	url, ok := <-lines
	if !ok {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", <-done, <-logged)
	}
	return strings.TrimSuffix(url, "/v1"), func() (string, error) {
		cancel()
		err := <-done
		return <-logged, err
	}
}

// TestServe serves the tiny checkpoint: our own client gets greedy text through
// it, a request without the key is refused, and the signal drains and exits 0.
func TestServe(t *testing.T) {
	cleanEnv(t)
	t.Setenv(apiKeysEnv, "k1, k2")
	url, stop := startServe(t, "--model", fixtures.GPTQ("tiny-4bit-128g-actorder"),
		"--tokenizer", smallTokenizer(t, 1024), "--device", "cpu", "--keep-alive", "-1")
	c, err := openai.New(url, openai.Options{APIKey: "k2"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Generate(t.Context(), engine.Request{Prompt: "it is in the", MaxTokens: 6}, nil)
	if err != nil || res.Tokens != 6 || res.Stop != engine.StopLength || res.Text == "" {
		t.Errorf("Generate = %+v, %v; want 6 tokens ending at the limit", res, err)
	}
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: status %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health: %d", resp.StatusCode)
	}
	// The local model is served by the batching engine: its KV cache is on /metrics.
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\nagent_kv_cache_blocks ") || strings.Contains(string(metrics), "\nagent_kv_cache_blocks 0\n") {
		t.Errorf("/metrics lacks the batching engine's KV cache blocks")
	}
	log, err := stop()
	if err != nil {
		t.Errorf("serve after the signal: %v\n%s", err, log)
	}
	for _, want := range []string{"serving tiny-4bit-128g-actorder at", "model loaded", "draining", "engine stats", "prefix_hit_rate=", "model unloaded", "drained"} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	if _, err := http.Get(url + "/health"); err == nil {
		t.Error("still serving after the drain")
	}
}

func TestServeUsage(t *testing.T) {
	cleanEnv(t)
	model := fixtures.GPTQ("tiny-4bit-128g-actorder")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", nil, "need exactly one of --model and --llm-url"},
		{"keep-alive", []string{"--model", model, "--keep-alive", "soon"}, "--keep-alive"},
		{"max-waiting", []string{"--model", model, "--max-waiting", "-3"}, "--max-waiting"},
		{"empty key", []string{"--model", model, "--api-key", " "}, "API key"},
		{"address", []string{"--model", model, "--addr", "nowhere:99999"}, "serve:"},
		{"argument", []string{"--model", model, "extra"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runAgent(t, "", append([]string{"serve"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 with %q", code, errOut, tt.want)
			}
		})
	}
}
