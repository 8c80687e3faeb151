package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

// gatedModel is the paged model with a gate on its steps: while gate is set,
// every step waits for a value from it (or for the gate to close).
type gatedModel struct {
	*llama.Model
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedModel) setGate(c chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = c
}

func (g *gatedModel) ForwardBatch(ctx context.Context, b engine.Batch, want []int) ([]float32, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Model.ForwardBatch(ctx, b, want)
}

// batchServer serves the tiny AutoGPTQ checkpoint on the CPU through the
// continuous-batching scheduler, as agent serve does, loaded by the first request
// once loadGate is closed.
type batchServer struct {
	s     *Server
	hs    *httptest.Server
	model *gatedModel
	loads int

	mu    sync.Mutex
	sched *batch.Scheduler
}

func newBatchServer(t *testing.T, tok *tokenizer.Tokenizer, loadGate chan struct{}) *batchServer {
	t.Helper()
	bs := &batchServer{}
	s, err := New(Options{Model: model, MaxRunning: 16, KeepAlive: -1, Load: func(ctx context.Context) (engine.LLM, func() error, error) {
		bs.loads++
		select {
		case <-loadGate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		m, err := llama.Open(ctx, fixtures.GPTQ("tiny-4bit-128g-actorder"), cpu.New(),
			llama.Options{Context: 64, Paged: &llama.Paged{Sequences: 16}})
		if err != nil {
			return nil, nil, err
		}
		bs.model = &gatedModel{Model: m}
		sched, err := batch.New(bs.model, tok, batch.Options{MaxSequences: 16})
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		bs.mu.Lock()
		bs.sched = sched
		bs.mu.Unlock()
		return sched, func() error { sched.Close(); return m.Close() }, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	bs.s, bs.hs = s, httptest.NewServer(s)
	t.Cleanup(func() {
		bs.hs.Close()
		s.Shutdown(context.Background())
	})
	return bs
}

func (bs *batchServer) stats() batch.Stats {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.sched.Stats()
}

// waitFor polls cond until it holds (the test's deadline bounds it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if dl, ok := t.Deadline(); ok && time.Until(dl) < time.Second {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchEngine serves the CPU engine as agent serve does (the batching
// scheduler, 16 requests at the engine at once) to the official OpenAI client: a
// request while the model loads waits for that one load; 64 streaming clients at
// once, sharing prompt prefixes, each get exactly engine/generate's greedy text
// and usage alone, with prefix-cache hits on /metrics and /api/ps; a stop string
// ends a choice; a client that disconnects mid-stream frees its sequence and
// blocks at once; Shutdown lets the running streams finish whole.
func TestBatchEngine(t *testing.T) {
	ctx := context.Background()
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := llama.Open(ctx, fixtures.GPTQ("tiny-4bit-128g-actorder"), cpu.New(), llama.Options{Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	g := generate.New(ref, tok)

	// Words whose ids are below the checkpoint's 1024; every other prompt starts
	// with the same 20 words (more than a block of 16 positions).
	words := []string{"it", "is", "in", "the", "a"}
	var shared []string
	for i := range 20 {
		shared = append(shared, words[(i*3)%len(words)])
	}
	var prompts []string
	for i := 0; len(prompts) < 64; i++ {
		var p []string
		if i%2 == 0 {
			p = append(p, shared...)
		}
		for n := i; len(p) == 0 || n > 0; n /= len(words) {
			p = append(p, words[n%len(words)])
		}
		prompts = append(prompts, strings.Join(p, " "))
	}
	const maxTokens = 6
	want := make([]engine.Result, len(prompts))
	for i, p := range prompts {
		if want[i], err = g.Generate(ctx, engine.Request{Prompt: p, MaxTokens: maxTokens}, nil); err != nil {
			t.Fatal(err)
		}
	}

	loadGate := make(chan struct{})
	bs := newBatchServer(t, tok, loadGate)
	c := client(bs.hs)
	complete := func(prompt string) (*openai.Completion, error) {
		return c.Completions.New(ctx, openai.CompletionNewParams{
			Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
			MaxTokens: openai.Int(maxTokens), Temperature: openai.Float(0),
		})
	}

	t.Run("a request while loading waits", func(t *testing.T) {
		errs := make(chan error, 2)
		for i := range 2 {
			go func() {
				got, err := complete(prompts[i])
				if err == nil && got.Choices[0].Text != want[i].Text {
					err = fmt.Errorf("%q, want %q", got.Choices[0].Text, want[i].Text)
				}
				errs <- err
			}()
		}
		waitFor(t, "both requests at the engine", func() bool { return testutil.ToFloat64(bs.s.metrics.running) == 2 })
		if code, body := getJSON(t, bs.hs, "/health"); code != http.StatusServiceUnavailable || body["status"] != "loading" {
			t.Errorf("health while loading: %d %v", code, body)
		}
		close(loadGate)
		for range 2 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if bs.loads != 1 {
			t.Errorf("%d loads, want 1", bs.loads)
		}
	})

	t.Run("64 streaming clients", func(t *testing.T) {
		before := bs.stats()
		errs := make(chan error, len(prompts))
		for i, p := range prompts {
			go func() {
				stream := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
					Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(p)},
					MaxTokens: openai.Int(maxTokens), Temperature: openai.Float(0),
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				var text strings.Builder
				var use openai.CompletionUsage
				for stream.Next() {
					for _, ch := range stream.Current().Choices {
						text.WriteString(ch.Text)
					}
					if u := stream.Current().Usage; u.TotalTokens > 0 {
						use = u
					}
				}
				switch w := want[i]; {
				case stream.Err() != nil:
					errs <- fmt.Errorf("prompt %q: %w", p, stream.Err())
				case text.String() != w.Text || use.CompletionTokens != int64(w.Tokens) || use.PromptTokens != int64(w.PromptTokens):
					errs <- fmt.Errorf("prompt %q: %q with usage %d+%d, alone %q with %d+%d", p, text.String(),
						use.PromptTokens, use.CompletionTokens, w.Text, w.PromptTokens, w.Tokens)
				default:
					errs <- nil
				}
			}()
		}
		for range prompts {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		st := bs.stats()
		if st.PrefixHits == before.PrefixHits || st.TokensSaved == before.TokensSaved {
			t.Errorf("stats %+v: no prefix-cache hit for 32 prompts sharing 20 words", st)
		}
		if st.Running != 0 || st.BlocksUsed != 0 {
			t.Errorf("stats %+v: sequences or blocks left after every client was answered", st)
		}
		metrics := scrape(t, bs.hs)
		for name, want := range map[string]float64{
			"agent_prefix_cache_hits_total":         float64(st.PrefixHits),
			"agent_prefix_cache_queries_total":      float64(st.PrefixQueries),
			"agent_prefix_cache_tokens_saved_total": float64(st.TokensSaved),
			"agent_kv_cache_blocks":                 float64(st.Blocks),
			"agent_kv_cache_blocks_in_use":          0,
			"agent_batch_sequences_running":         0,
			"agent_preemptions_total":               float64(st.Preemptions),
		} {
			if got, ok := metrics[name]; !ok || got != want {
				t.Errorf("/metrics %s = %v (present %v), want %v", name, got, ok, want)
			}
		}
		m := getPS(t, bs.s)
		if m.Cache == nil || m.Cache.PrefixHits != st.PrefixHits || m.Cache.HitRate != st.HitRate() || m.Cache.Blocks != st.Blocks {
			t.Errorf("/api/ps cache %+v, scheduler %+v", m.Cache, st)
		}
	})

	t.Run("stop string", func(t *testing.T) {
		w := want[1]
		runes := []rune(w.Text)
		stopAt := string(runes[len(runes)/2:][:1])
		got, err := c.Completions.New(ctx, openai.CompletionNewParams{
			Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompts[1])},
			MaxTokens: openai.Int(maxTokens), Temperature: openai.Float(0),
			Stop: openai.CompletionNewParamsStopUnion{OfString: openai.String(stopAt)},
		})
		if err != nil {
			t.Fatal(err)
		}
		ch := got.Choices[0]
		if cut := w.Text[:strings.Index(w.Text, stopAt)]; ch.Text != cut || ch.FinishReason != "stop" {
			t.Errorf("stop %q: %q (%s), want %q (stop)", stopAt, ch.Text, ch.FinishReason, cut)
		}
	})

	t.Run("disconnect frees the slot", func(t *testing.T) {
		const long = 40
		before := bs.stats()
		gate := make(chan struct{})
		bs.model.setGate(gate)
		cctx, cancel := context.WithCancel(ctx)
		// Steps run one at a time until the first text arrives (NewStreaming
		// returns with it).
		fed := make(chan struct{})
		go func() {
			defer close(fed)
			for {
				select {
				case gate <- struct{}{}:
				case <-cctx.Done():
					return
				}
			}
		}()
		stream := c.Completions.NewStreaming(cctx, openai.CompletionNewParams{
			Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("it is")},
			MaxTokens: openai.Int(long), Temperature: openai.Float(0),
		})
		if !stream.Next() {
			t.Fatalf("no first chunk: %v", stream.Err())
		}
		cancel()
		stream.Close()
		<-fed
		waitFor(t, "the request to end", func() bool { return testutil.ToFloat64(bs.s.metrics.running) == 0 })
		bs.model.setGate(nil)
		close(gate) // the step that waits runs, then the sequence is dropped
		waitFor(t, "the sequence to leave", func() bool { return bs.stats().Running == 0 })
		st := bs.stats()
		if n := st.GeneratedTokens - before.GeneratedTokens; n >= long || st.BlocksUsed != 0 {
			t.Errorf("after the disconnect: %d tokens generated (of %d), %d blocks in use", n, long, st.BlocksUsed)
		}
		if got, err := complete(prompts[3]); err != nil || got.Choices[0].Text != want[3].Text {
			t.Errorf("the next request: %v, %v", got, err)
		}
	})

	t.Run("shutdown drains", func(t *testing.T) {
		gate := make(chan struct{})
		bs.model.setGate(gate)
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				got, err := complete(prompts[i])
				if err == nil && got.Choices[0].Text != want[i].Text {
					err = fmt.Errorf("prompt %q: %q, want %q", prompts[i], got.Choices[0].Text, want[i].Text)
				}
				errs <- err
			}()
		}
		waitFor(t, "every request admitted", func() bool { return bs.stats().Running+bs.stats().Waiting == n })
		shut := make(chan error, 1)
		go func() { shut <- bs.s.Shutdown(ctx) }()
		waitFor(t, "new requests refused", func() bool {
			code, _ := getJSON(t, bs.hs, "/health")
			return code == http.StatusServiceUnavailable
		})
		close(gate)
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if m := getPS(t, bs.s); m.Cache == nil || m.Cache.PrefixHits == 0 || m.Loaded {
			t.Errorf("after the drain: %+v, want the counters kept and the model released", m)
		}
	})
}

// scrape reads /metrics as name -> value, for the metrics without labels.
func scrape(t *testing.T, hs *httptest.Server) map[string]float64 {
	t.Helper()
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		var v float64
		if err := json.Unmarshal([]byte(value), &v); err == nil {
			out[name] = v
		}
	}
	return out
}

// TestEngineBusy: a batching engine whose own queue is full answers 503
// "server_busy", as the server's queue does, with Retry-After.
func TestEngineBusy(t *testing.T) {
	full := llmFunc(func(context.Context, engine.Request, func(string) error) (engine.Result, error) {
		return engine.Result{}, fmt.Errorf("%w: 16 running, 64 waiting (the most)", batch.ErrBusy)
	})
	_, hs := serve(t, full, Options{})
	_, err := client(hs).Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
	})
	if e := apiErr(t, err); e.StatusCode != http.StatusServiceUnavailable || e.Code != "server_busy" ||
		e.Response.Header.Get("Retry-After") == "" {
		t.Errorf("engine busy: %v", err)
	}
}
