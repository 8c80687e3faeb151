package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
)

const model = "tiny"

// serve runs a server over llm (loaded at once by the default loader) on an
// httptest server.
func serve(t *testing.T, llm engine.LLM, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	opts.Model = model
	if opts.Load == nil {
		opts.Load = func(context.Context) (engine.LLM, func() error, error) { return llm, nil, nil }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, hs
}

// client is the official OpenAI client for hs, without retries, so that every
// refusal is seen.
func client(hs *httptest.Server, opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(hs.URL + "/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

// post sends body to path and returns the status and the decoded JSON answer.
func post(t *testing.T, hs *httptest.Server, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: status %d, body not JSON: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, v
}

// apiErr returns err as the client's API error, failing the test if it is not one.
func apiErr(t *testing.T, err error) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an API error", err)
	}
	return e
}

func TestCompletion(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{})
	c := client(hs)
	ctx := context.Background()
	tests := []struct {
		name       string
		params     openai.CompletionNewParams
		opts       []option.RequestOption
		wantText   string
		wantFinish string
		wantTokens int64
	}{
		{
			name:       "to the end",
			params:     openai.CompletionNewParams{Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("the sky is blue")}},
			wantText:   "you said: the sky is blue",
			wantFinish: "stop", wantTokens: 6,
		},
		{
			name: "max tokens",
			params: openai.CompletionNewParams{
				Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("the sky is blue")},
				MaxTokens: openai.Int(3),
			},
			wantText: "you said: the", wantFinish: "length", wantTokens: 3,
		},
		{
			name: "stop string across pieces",
			params: openai.CompletionNewParams{
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("the sky is blue")},
				Stop:   openai.CompletionNewParamsStopUnion{OfStringArray: []string{"nothing", "y is"}},
			},
			wantText: "you said: the sk", wantFinish: "stop", wantTokens: 5,
		},
		{
			name: "one-prompt array",
			params: openai.CompletionNewParams{
				Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"hi"}},
			},
			wantText: "you said: hi", wantFinish: "stop", wantTokens: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params.Model = model
			got, err := c.Completions.New(ctx, tt.params, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("%d choices", len(got.Choices))
			}
			ch := got.Choices[0]
			if ch.Text != tt.wantText || string(ch.FinishReason) != tt.wantFinish {
				t.Errorf("text %q finish %q, want %q %q", ch.Text, ch.FinishReason, tt.wantText, tt.wantFinish)
			}
			prompt := tt.params.Prompt.OfString.Or(strings.Join(tt.params.Prompt.OfArrayOfStrings, ""))
			if got.Usage.CompletionTokens != tt.wantTokens || got.Usage.PromptTokens != int64(len(prompt)) ||
				got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens {
				t.Errorf("usage %+v, want %d completion tokens and %d prompt tokens", got.Usage, tt.wantTokens, len(prompt))
			}
			if got.Model != model || got.Object != "text_completion" || !strings.HasPrefix(got.ID, "cmpl-") {
				t.Errorf("envelope: model %q object %q id %q", got.Model, got.Object, got.ID)
			}
		})
	}
}

// TestSamplingReachesEngine checks each sampling field, standard or extra, lands in
// the engine's request, and the defaults where they are omitted.
func TestSamplingReachesEngine(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{})
	c := client(hs)
	_, err := c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:       model,
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
		MaxTokens:   openai.Int(7),
		Temperature: openai.Float(0.7),
		TopP:        openai.Float(0.9),
		Seed:        openai.Int(42),
	}, option.WithJSONSet("top_k", 40), option.WithJSONSet("repetition_penalty", 1.15))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("y")},
	}, option.WithJSONSet("top_k", -1), option.WithJSONSet("repeat_penalty", 1.3))
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Request{
		{Prompt: "x", MaxTokens: 7, Sampling: engine.Sampling{Temperature: 0.7, TopP: 0.9, TopK: 40, RepetitionPenalty: 1.15, Seed: 42}},
		{Prompt: "y", Sampling: engine.Sampling{Temperature: 1, TopP: 1, RepetitionPenalty: 1.3}},
	}
	got := f.requests()
	if len(got) != 2 {
		t.Fatalf("%d engine calls", len(got))
	}
	for i := range want {
		if got[i].Prompt != want[i].Prompt || got[i].MaxTokens != want[i].MaxTokens ||
			got[i].Sampling != want[i].Sampling || len(got[i].Stop) != 0 {
			t.Errorf("call %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCompletionStream(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{})
	c := client(hs)
	for _, usage := range []bool{true, false} {
		t.Run(fmt.Sprintf("include_usage=%v", usage), func(t *testing.T) {
			params := openai.CompletionNewParams{
				Model:  model,
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a b c d")},
				Stop:   openai.CompletionNewParamsStopUnion{OfString: openai.String(" c")},
			}
			if usage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			stream := c.Completions.NewStreaming(context.Background(), params)
			var text strings.Builder
			var pieces, usages int
			var finish string
			for stream.Next() {
				ch := stream.Current()
				if ch.Usage.TotalTokens > 0 {
					usages++
					if ch.Usage.PromptTokens != 7 || ch.Usage.CompletionTokens != 5 || len(ch.Choices) != 0 {
						t.Errorf("usage chunk %+v with %d choices, want 7 + 5 tokens and none", ch.Usage, len(ch.Choices))
					}
				}
				for _, choice := range ch.Choices {
					if choice.Text != "" {
						pieces++
					}
					text.WriteString(choice.Text)
					if choice.FinishReason != "" {
						finish = string(choice.FinishReason)
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != "you said: a b" || finish != "stop" {
				t.Errorf("text %q finish %q, want %q stop", text.String(), finish, "you said: a b")
			}
			if pieces < 3 {
				t.Errorf("%d pieces: the text did not stream", pieces)
			}
			if want := map[bool]int{true: 1, false: 0}[usage]; usages != want {
				t.Errorf("%d usage chunks, want %d", usages, want)
			}
		})
	}
}

// TestStreamWire reads a stream as raw server-sent events: the chunk shape
// engine/openai reads, stop_reason set to the stop string, and [DONE] last.
func TestStreamWire(t *testing.T) {
	_, hs := serve(t, &fakeLLM{reply: echo}, Options{})
	resp, err := hs.Client().Post(hs.URL+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"tiny","prompt":"a b","stream":true,"stop":["b","zz"],"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, line)
		} else if sc.Text() != "" {
			t.Errorf("unexpected line %q", sc.Text())
		}
	}
	if len(events) < 3 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %q: want chunks, a usage chunk and [DONE]", events)
	}
	var last struct {
		Choices []struct {
			Text         string  `json:"text"`
			FinishReason *string `json:"finish_reason"`
			StopReason   *string `json:"stop_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(events[len(events)-3]), &last); err != nil {
		t.Fatal(err)
	}
	if len(last.Choices) != 1 || last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != "stop" ||
		last.Choices[0].StopReason == nil || *last.Choices[0].StopReason != "b" {
		t.Errorf("last chunk %s: want finish_reason stop, stop_reason b", events[len(events)-3])
	}
}

func TestChat(t *testing.T) {
	f := &fakeLLM{reply: func(string) []string { return []string{"Paris", " is", " nice.", " USER:", " more"} }}
	_, hs := serve(t, f, Options{})
	c := client(hs)
	params := openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.UserMessage("Capital of France?"),
		},
		MaxCompletionTokens: openai.Int(50),
	}
	wantPrompt := "Be brief. USER: Capital of France? ASSISTANT:"

	got, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Message.Content != "Paris is nice. " ||
		got.Choices[0].Message.Role != "assistant" || got.Choices[0].FinishReason != "stop" || got.Object != "chat.completion" {
		t.Errorf("answer %s: want %q, ended by the template's stop", got.RawJSON(), "Paris is nice. ")
	}
	if got.Usage.CompletionTokens != 4 {
		t.Errorf("%d completion tokens, want 4 (the one with the stop string counts)", got.Usage.CompletionTokens)
	}

	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	first := true
	for stream.Next() {
		ch := stream.Current()
		if first && (len(ch.Choices) != 1 || ch.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %s: want the role", ch.RawJSON())
		}
		first = false
		acc.AddChunk(ch)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Paris is nice. " || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("streamed %+v", acc.Choices)
	}
	for i, r := range f.requests() {
		if r.Prompt != wantPrompt || r.MaxTokens != 50 {
			t.Errorf("call %d: prompt %q max %d, want %q 50", i, r.Prompt, r.MaxTokens, wantPrompt)
		}
	}
}

func TestPromptIDs(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{})
	c := client(hs)
	for _, prompt := range []openai.CompletionNewParamsPromptUnion{
		{OfArrayOfTokens: []int64{1, 306, 4966}},
		{OfArrayOfTokenArrays: [][]int64{{1, 306, 4966}}},
	} {
		got, err := c.Completions.New(context.Background(), openai.CompletionNewParams{Model: model, Prompt: prompt})
		if err != nil {
			t.Fatal(err)
		}
		if got.Choices[0].Text != "you said: [1 306 4966]" || got.Usage.PromptTokens != 3 {
			t.Errorf("text %q, %d prompt tokens", got.Choices[0].Text, got.Usage.PromptTokens)
		}
	}
	if len(f.ids) != 2 || !slices.Equal(f.ids[0], []int{1, 306, 4966}) || len(f.reqs) != 0 {
		t.Errorf("engine got ids %v and text calls %v", f.ids, f.reqs)
	}

	_, hs = serve(t, textOnly{f}, Options{})
	_, err := client(hs).Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2}},
	})
	if e := apiErr(t, err); e.StatusCode != http.StatusBadRequest || e.Param != "prompt" {
		t.Errorf("ids to a text-only engine: %v", err)
	}
}

// TestClientDisconnect: a client that goes away mid-stream cancels the engine call.
func TestClientDisconnect(t *testing.T) {
	f := &fakeLLM{reply: echo, hold: 1, cancelled: make(chan error, 1)}
	s, hs := serve(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	stream := client(hs).Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a b c")},
	})
	if !stream.Next() || stream.Current().Choices[0].Text != "you" {
		t.Fatalf("first chunk: %v", stream.Err())
	}
	cancel()
	stream.Close()
	select {
	case cause := <-f.cancelled:
		if !errors.Is(cause, context.Canceled) {
			t.Errorf("engine ctx ended with %v, want cancelled", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the engine call was not cancelled")
	}
	// The turn is free again: the next request runs.
	f.hold = 0
	if _, err := client(hs).Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("again")},
	}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.metrics.running); n != 0 {
		t.Errorf("%v requests still running", n)
	}
}

// TestConcurrentClients: 64 clients at once; each gets its own complete answer or a
// clean busy error, and the engine never sees more than MaxRunning calls at once.
func TestConcurrentClients(t *testing.T) {
	const clients = 64
	t.Run("queue holds them all", func(t *testing.T) {
		f := &fakeLLM{reply: echo}
		_, hs := serve(t, f, Options{MaxRunning: 4})
		errs := runClients(t, hs, clients)
		for i, err := range errs {
			if err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		}
		if f.peak > 4 {
			t.Errorf("%d engine calls at once, MaxRunning is 4", f.peak)
		}
	})
	t.Run("queue overflows", func(t *testing.T) {
		const running, waiting = 2, 20
		gate := make(chan struct{})
		f := &fakeLLM{reply: echo, gate: gate}
		s, hs := serve(t, f, Options{MaxRunning: running, MaxWaiting: waiting})
		// Nothing finishes while the gate is shut, so the admitted stay admitted and
		// every other client is refused: once clients-running-waiting refusals are
		// in, open it.
		busy := make(chan struct{}, clients)
		go func() {
			for range clients - running - waiting {
				<-busy
			}
			if got := testutil.ToFloat64(s.metrics.waiting); got != waiting {
				t.Errorf("%v waiting, want %d", got, waiting)
			}
			close(gate)
		}()
		errs := runClients(t, hs, clients, busy)
		ok, refused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case apiErr(t, err).StatusCode == http.StatusServiceUnavailable && apiErr(t, err).Code == "server_busy":
				refused++
			default:
				t.Errorf("client %d: %v", i, err)
			}
		}
		if ok != running+waiting || refused != clients-running-waiting {
			t.Errorf("%d answered, %d refused; want %d and %d", ok, refused, running+waiting, clients-running-waiting)
		}
		if f.peak > running {
			t.Errorf("%d engine calls at once, MaxRunning is %d", f.peak, running)
		}
	})
}

// runClients runs n streaming clients at once, each with its own prompt, and
// returns their errors; an answer that is not the whole echo of its prompt is an
// error. A refusal is also signalled on busy, when given.
func runClients(t *testing.T, hs *httptest.Server, n int, busy ...chan struct{}) []error {
	errs := make([]error, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			prompt := fmt.Sprintf("client %d here", i)
			stream := client(hs).Completions.NewStreaming(context.Background(), openai.CompletionNewParams{
				Model:         model,
				Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var text strings.Builder
			var usage int64
			for stream.Next() {
				for _, ch := range stream.Current().Choices {
					text.WriteString(ch.Text)
				}
				usage += stream.Current().Usage.CompletionTokens
			}
			if err := stream.Err(); err != nil {
				errs[i] = err
				if len(busy) > 0 {
					busy[0] <- struct{}{}
				}
				return
			}
			if want := "you said: " + prompt; text.String() != want || usage != 5 {
				errs[i] = fmt.Errorf("answer %q with %d tokens, want %q with 5", text.String(), usage, want)
			}
		}()
	}
	for range n {
		<-done
	}
	return errs
}

// TestDrain: Shutdown refuses new requests, lets the running one finish whole, and
// only then releases the model; Serve returns.
func TestDrain(t *testing.T) {
	gate := make(chan struct{})
	f := &fakeLLM{reply: echo, gate: gate, started: make(chan struct{}, 1)}
	events := make(chan string, 4)
	s, err := New(Options{Model: model, Load: func(context.Context) (engine.LLM, func() error, error) {
		llm := llmFunc(func(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
			defer func() { events <- "generated" }()
			return f.Generate(ctx, req, onText)
		})
		return llm, func() error { events <- "released"; return nil }, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	served := make(chan error, 1)
	go func() { served <- s.Serve(hs.Listener) }()
	base := "http://" + hs.Listener.Addr().String()
	c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("x"), option.WithMaxRetries(0))

	answered := make(chan string, 1)
	go func() {
		got, err := c.Completions.New(context.Background(), openai.CompletionNewParams{
			Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("last words")},
		})
		if err != nil {
			answered <- err.Error()
			return
		}
		answered <- got.Choices[0].Text
	}()
	<-f.started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// Wait until the server refuses new API requests (it may refuse the connection
	// itself once the listener is closed).
	for {
		resp, err := http.Get(base + "/v1/models")
		if err != nil {
			break
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if got := <-answered; got != "you said: last words" {
		t.Errorf("the running request got %q", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if first, second := <-events, <-events; first != "generated" || second != "released" {
		t.Errorf("events %s, %s: want the generation to end before the release", first, second)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestShutdownDeadline: past Shutdown's ctx the running request is cancelled.
func TestShutdownDeadline(t *testing.T) {
	f := &fakeLLM{reply: echo, hold: 1, cancelled: make(chan error, 1), started: make(chan struct{}, 1)}
	s, hs := serve(t, f, Options{})
	c := client(hs)
	go c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
	})
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if cause := <-f.cancelled; !errors.Is(cause, ErrClosed) {
		t.Errorf("engine ctx ended with %v, want ErrClosed", cause)
	}
	if code, body := getJSON(t, hs, "/health"); code != http.StatusServiceUnavailable || body["status"] != "draining" {
		t.Errorf("health after Shutdown: %d %v", code, body)
	}
	_, err := c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("late")},
	})
	if e := apiErr(t, err); e.StatusCode != http.StatusServiceUnavailable || e.Code != "shutting_down" {
		t.Errorf("a request after Shutdown: %v", err)
	}
}

// TestWaitForLoad: a request that comes while the model loads waits for that load;
// /health says loading meanwhile, then ok.
func TestWaitForLoad(t *testing.T) {
	gate := make(chan struct{})
	loads := 0
	f := &fakeLLM{reply: echo}
	s, hs := serve(t, nil, Options{MaxRunning: 2, Load: func(ctx context.Context) (engine.LLM, func() error, error) {
		loads++
		select {
		case <-gate:
			return f, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}})
	if code, body := getJSON(t, hs, "/health"); code != http.StatusOK || body["status"] != "ok" || body["loaded"] != false {
		t.Errorf("health before loading: %d %v", code, body)
	}
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := client(hs).Completions.New(context.Background(), openai.CompletionNewParams{
				Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(fmt.Sprint(i))},
			})
			errs <- err
		}()
	}
	for testutil.ToFloat64(s.metrics.running) < 2 { // both have a turn: one started the load, one waits for it
		time.Sleep(time.Millisecond)
	}
	if code, body := getJSON(t, hs, "/health"); code != http.StatusServiceUnavailable || body["status"] != "loading" {
		t.Errorf("health while loading: %d %v", code, body)
	}
	close(gate)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if loads != 1 {
		t.Errorf("%d loads, want 1", loads)
	}
	if code, body := getJSON(t, hs, "/health"); code != http.StatusOK || body["loaded"] != true {
		t.Errorf("health after loading: %d %v", code, body)
	}
}

// TestLoadFails: the request gets the loader's error, /health says error, and the
// next request loads again.
func TestLoadFails(t *testing.T) {
	loads := 0
	_, hs := serve(t, nil, Options{Load: func(context.Context) (engine.LLM, func() error, error) {
		loads++
		if loads == 1 {
			return nil, nil, errors.New("out of memory")
		}
		return &fakeLLM{reply: echo}, nil, nil
	}})
	c := client(hs)
	params := openai.CompletionNewParams{Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}
	_, err := c.Completions.New(context.Background(), params)
	if e := apiErr(t, err); e.StatusCode != http.StatusInternalServerError || !strings.Contains(e.Message, "out of memory") {
		t.Errorf("first request: %v", err)
	}
	if code, body := getJSON(t, hs, "/health"); code != http.StatusInternalServerError || body["status"] != "error" ||
		!strings.Contains(fmt.Sprint(body["error"]), "out of memory") {
		t.Errorf("health after the failure: %d %v", code, body)
	}
	if _, err := c.Completions.New(context.Background(), params); err != nil {
		t.Errorf("second request: %v", err)
	}
}

func getJSON(t *testing.T, hs *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := hs.Client().Get(hs.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

func TestAPIKeys(t *testing.T) {
	_, hs := serve(t, &fakeLLM{reply: echo}, Options{APIKeys: []string{"k1", "k2"}})
	params := openai.CompletionNewParams{Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}
	for _, key := range []string{"k1", "k2"} {
		if _, err := client(hs, option.WithAPIKey(key)).Completions.New(context.Background(), params); err != nil {
			t.Errorf("key %s: %v", key, err)
		}
	}
	for _, key := range []string{"wrong", "k1k2", ""} {
		_, err := client(hs, option.WithAPIKey(key)).Completions.New(context.Background(), params)
		if e := apiErr(t, err); e.StatusCode != http.StatusUnauthorized || e.Code != "invalid_api_key" {
			t.Errorf("key %q: %v", key, err)
		}
	}
	_, err := client(hs, option.WithAPIKey("wrong")).Models.List(context.Background())
	if e := apiErr(t, err); e.StatusCode != http.StatusUnauthorized {
		t.Errorf("models with a wrong key: %v", err)
	}
	if code, _ := getJSON(t, hs, "/health"); code != http.StatusOK {
		t.Errorf("health needs no key, got %d", code)
	}
}

func TestBodyLimit(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{MaxBodyBytes: 1000})
	_, err := client(hs).Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(strings.Repeat("x", 1000))},
	})
	if e := apiErr(t, err); e.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "request_too_large" {
		t.Errorf("oversized body: %v", err)
	}
	if len(f.requests()) != 0 {
		t.Error("the engine was called")
	}
}

// TestRefused: bad requests get a 4xx in OpenAI's error shape and never reach the engine.
func TestRefused(t *testing.T) {
	f := &fakeLLM{reply: echo}
	_, hs := serve(t, f, Options{})
	tests := []struct {
		name, path, body string
		code             int
		param            string
	}{
		{"malformed", "/v1/completions", `{"prompt": `, 400, ""},
		{"two values", "/v1/completions", `{"prompt": "x"} {}`, 400, ""},
		{"wrong type", "/v1/completions", `{"prompt": "x", "max_tokens": "ten"}`, 400, ""},
		{"no prompt", "/v1/completions", `{"model": "tiny"}`, 400, "prompt"},
		{"two prompts", "/v1/completions", `{"prompt": ["a", "b"]}`, 400, "prompt"},
		{"no ids", "/v1/completions", `{"prompt": []}`, 400, "prompt"},
		{"negative id", "/v1/completions", `{"prompt": [1, -2]}`, 400, "prompt"},
		{"fractional id", "/v1/completions", `{"prompt": [1.5]}`, 400, "prompt"},
		{"other model", "/v1/completions", `{"model": "gpt-4", "prompt": "x"}`, 404, ""},
		{"n", "/v1/completions", `{"prompt": "x", "n": 2}`, 400, "n"},
		{"logprobs", "/v1/completions", `{"prompt": "x", "logprobs": 5}`, 400, "logprobs"},
		{"echo", "/v1/completions", `{"prompt": "x", "echo": true}`, 400, "echo"},
		{"presence", "/v1/completions", `{"prompt": "x", "presence_penalty": 0.5}`, 400, "presence_penalty"},
		{"negative max", "/v1/completions", `{"prompt": "x", "max_tokens": -1}`, 400, "max_tokens"},
		{"temperature", "/v1/completions", `{"prompt": "x", "temperature": -1}`, 400, ""},
		{"top_p", "/v1/completions", `{"prompt": "x", "top_p": 1.5}`, 400, ""},
		{"top_k", "/v1/completions", `{"prompt": "x", "top_k": -2}`, 400, "top_k"},
		{"seed", "/v1/completions", `{"prompt": "x", "seed": -1}`, 400, "seed"},
		{"empty stop", "/v1/completions", `{"prompt": "x", "stop": [""]}`, 400, "stop"},
		{"many stops", "/v1/completions", `{"prompt": "x", "stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`, 400, "stop"},
		{"no messages", "/v1/chat/completions", `{"messages": []}`, 400, "messages"},
		{"assistant last", "/v1/chat/completions", `{"messages": [{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}`, 400, "messages"},
		{"image", "/v1/chat/completions", `{"messages": [{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "messages[0].content"},
		{"tools", "/v1/chat/completions", `{"messages": [{"role":"user","content":"hi"}], "tools": [{"type":"function"}]}`, 400, "tools"},
		{"json mode", "/v1/chat/completions", `{"messages": [{"role":"user","content":"hi"}], "response_format": {"type":"json_object"}}`, 400, "response_format"},
		{"unknown path", "/v1/embeddings", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, hs, tt.path, tt.body)
			e, _ := body["error"].(map[string]any)
			if code != tt.code || e == nil || e["message"] == "" || e["type"] == nil {
				t.Fatalf("status %d body %v, want %d with an error", code, body, tt.code)
			}
			if param, _ := e["param"].(string); param != tt.param {
				t.Errorf("param %q, want %q (%v)", param, tt.param, e["message"])
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/completions", nil)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/completions: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if len(f.requests()) != 0 {
		t.Errorf("the engine was called %d times", len(f.requests()))
	}
}

// TestContextLength: the engine's ErrContextLength is the client's 400.
func TestContextLength(t *testing.T) {
	tooLong := llmFunc(func(context.Context, engine.Request, func(string) error) (engine.Result, error) {
		return engine.Result{}, fmt.Errorf("%w: 5000 prompt tokens", engine.ErrContextLength)
	})
	_, hs := serve(t, tooLong, Options{})
	code, body := post(t, hs, "/v1/completions", `{"prompt":"x","stream":true}`)
	if e, _ := body["error"].(map[string]any); code != 400 || e["code"] != "context_length_exceeded" {
		t.Errorf("%d %v", code, body)
	}
}

// TestEngineFailsMidStream: an error after the stream began is an error event, and
// the official client reports it.
func TestEngineFailsMidStream(t *testing.T) {
	broken := llmFunc(func(_ context.Context, _ engine.Request, onText func(string) error) (engine.Result, error) {
		onText("half")
		return engine.Result{}, errors.New("device lost")
	})
	_, hs := serve(t, broken, Options{})
	stream := client(hs).Completions.NewStreaming(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
	})
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Errorf("stream error %v, want the engine's", err)
	}
}

type llmFunc func(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error)

func (f llmFunc) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	return f(ctx, req, onText)
}

func TestModelsAndMetrics(t *testing.T) {
	_, hs := serve(t, &fakeLLM{reply: echo}, Options{})
	c := client(hs)
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != model {
		t.Errorf("models %+v", page.Data)
	}
	if _, err := c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a b")},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"agent_prompt_tokens_total 3",
		"agent_generation_tokens_total 4",
		"agent_time_to_first_token_seconds_count 1",
		"agent_inter_token_latency_seconds_count 3",
		`agent_requests_total{code="200",endpoint="completions"} 1`,
		`agent_requests_total{code="200",endpoint="models"} 1`,
		"agent_requests_running 0",
		"agent_requests_waiting 0",
		"agent_model_loaded 1",
	} {
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNewNeedsModelAndLoader(t *testing.T) {
	load := func(context.Context) (engine.LLM, func() error, error) { return nil, nil, nil }
	if _, err := New(Options{Load: load}); err == nil {
		t.Error("no model name accepted")
	}
	if _, err := New(Options{Model: "m"}); err == nil {
		t.Error("no loader accepted")
	}
	if s, err := New(Options{Model: "m", Load: load, Template: chat.Template{User: "Q:", Assistant: "A:"}}); err != nil || s.opts.Template.User != "Q:" {
		t.Errorf("own template: %v", err)
	}
}
