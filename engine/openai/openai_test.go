package openai

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// textChunk is an event as vLLM streams it.
func textChunk(text, finish string, stopReason any) string {
	ch := map[string]any{
		"object":  "text_completion",
		"choices": []map[string]any{{"index": 0, "text": text, "finish_reason": nilIfEmpty(finish), "stop_reason": stopReason}},
	}
	b, _ := json.Marshal(ch)
	return "data: " + string(b) + "\n\n"
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const usageChunk = `data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}` + "\n\n"
const done = "data: [DONE]\n\n"

// server streams the given raw body after headers, flushing between parts, and
// records the requests it got.
type server struct {
	*httptest.Server
	requests []completionRequest
	headers  []http.Header
	models   atomic.Int32
}

func newServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			s.models.Add(1)
			io.WriteString(w, `{"object":"list","data":[{"id":"airoboros-65b"},{"id":"other"}]}`)
			return
		}
		if r.URL.Path != "/v1/completions" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var req completionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.requests = append(s.requests, req)
		s.headers = append(s.headers, r.Header.Clone())
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// streamParts writes an event stream in parts, flushing after each.
func streamParts(parts ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, p := range parts {
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	}
}

func newClient(t *testing.T, s *server, opts Options) *Client {
	t.Helper()
	c, err := New(s.URL+"/v1/", opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name   string
		req    engine.Request
		parts  []string
		text   string
		pieces []string
		stop   engine.StopReason
		tokens int
	}{
		{"until EOS with usage", engine.Request{Prompt: "Hi"},
			[]string{textChunk("Hel", "", nil), textChunk("lo", "", nil), textChunk(" world", "stop", nil), usageChunk, done},
			"Hello world", []string{"Hel", "lo", " world"}, engine.StopEOS, 3},
		{"length without usage counts chunks", engine.Request{Prompt: "Hi", MaxTokens: 2},
			[]string{textChunk("a", "", nil), textChunk("b", "length", nil), done},
			"ab", []string{"a", "b"}, engine.StopLength, 2},
		{"server-side stop string", engine.Request{Prompt: "Hi", Stop: []string{"\nObs"}},
			[]string{textChunk("x", "", nil), textChunk("\n", "", nil), textChunk("", "stop", "\nObs"), done},
			"x\n", []string{"x", "\n"}, engine.StopString, 2},
		{"stop string applied here when the server ignores it", engine.Request{Prompt: "Hi", Stop: []string{"\nObservation"}},
			[]string{textChunk("Plan: a", "", nil), textChunk("\nObs", "", nil), textChunk("ervation: b", "", nil), textChunk("more", "", nil)},
			"Plan: a", []string{"Plan: a"}, engine.StopString, 3},
		{"CRLF, no space after data:, comments, multi-line data", engine.Request{Prompt: "Hi"},
			[]string{": keep-alive\r\n\r\n", "data:{\"choices\":[{\"text\":\"a\"}]}\r\n\r\n",
				"event: message\ndata: {\"choices\":\ndata: [{\"text\":\"b\",\"finish_reason\":\"stop\"}]}\n\n", "data: [DONE]"},
			"ab", []string{"a", "b"}, engine.StopEOS, 2},
		{"last event without its blank line", engine.Request{Prompt: "Hi"},
			[]string{textChunk("a", "", nil), `data: {"choices":[{"text":"b","finish_reason":"stop"}]}`},
			"ab", []string{"a", "b"}, engine.StopEOS, 2},
		{"finish then EOF without [DONE]", engine.Request{Prompt: "Hi"},
			[]string{textChunk("a", "stop", nil)},
			"a", []string{"a"}, engine.StopEOS, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, streamParts(tt.parts...))
			c := newClient(t, s, Options{Model: "m"})
			var pieces []string
			res, err := c.Generate(context.Background(), tt.req, func(p string) error {
				pieces = append(pieces, p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.text || res.Stop != tt.stop || res.Tokens != tt.tokens {
				t.Errorf("result %+v, want text %q stop %q tokens %d", res, tt.text, tt.stop, tt.tokens)
			}
			if !slices.Equal(pieces, tt.pieces) {
				t.Errorf("pieces %q, want %q", pieces, tt.pieces)
			}
		})
	}
}

func TestRequestFields(t *testing.T) {
	s := newServer(t, streamParts(textChunk("a", "stop", nil), done))
	c := newClient(t, s, Options{Model: "m", APIKey: "sk-test"})
	req := engine.Request{Prompt: "Hi", MaxTokens: 9, Stop: []string{"X"},
		Sampling: engine.Sampling{Temperature: 0.7, TopP: 0.95, TopK: 40, RepetitionPenalty: 1.15, Seed: 5}}
	if _, err := c.Generate(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	got := s.requests[0]
	want := completionRequest{Model: "m", Prompt: "Hi", settings: settings{MaxTokens: 9, Temperature: 0.7, TopP: 0.95, TopK: 40,
		RepPenalty: 1.15, RepeatPenalty: 1.15, RepeatLastN: -1, Seed: 5, Stop: []string{"X"}, Stream: true,
		StreamOptions: map[string]any{"include_usage": true}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("request\n%+v\nwant\n%+v", got, want)
	}
	if h := s.headers[0].Get("Authorization"); h != "Bearer sk-test" {
		t.Errorf("Authorization %q", h)
	}

	// Off settings go out as the values that mean off on the servers, greedy as 0.
	if _, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil); err != nil {
		t.Fatal(err)
	}
	got = s.requests[1]
	if got.Temperature != 0 || got.TopP != 1 || got.TopK != -1 || got.RepPenalty != 1 || got.MinP != 0 || got.MaxTokens != 0 {
		t.Errorf("defaults sent as %+v", got)
	}
}

func TestModelDiscovery(t *testing.T) {
	s := newServer(t, streamParts(textChunk("a", "stop", nil), done))
	c := newClient(t, s, Options{})
	for range 2 {
		if _, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s.requests[0].Model != "airoboros-65b" || s.requests[1].Model != "airoboros-65b" || s.models.Load() != 1 {
		t.Errorf("models %q %q after %d listings, want the first listed, listed once",
			s.requests[0].Model, s.requests[1].Model, s.models.Load())
	}
}

func TestNonStreamingServer(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"choices":[{"text":"whole answer","finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":4}}`)
	})
	res, err := newClient(t, s, Options{Model: "m"}).Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil)
	if err != nil || res.Text != "whole answer" || res.Stop != engine.StopLength || res.Tokens != 4 || res.PromptTokens != 2 {
		t.Errorf("result %+v, %v", res, err)
	}
}

func TestErrors(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxLine+10) + "\n\n"
	endless := func(text string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for r.Context().Err() == nil {
				io.WriteString(w, textChunk(text, "", nil))
			}
		}
	}
	status := func(code int, body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name      string
		handler   func(http.ResponseWriter, *http.Request)
		req       engine.Request
		want      string
		status    int
		temporary bool
		text      string
	}{
		{name: "401 with OpenAI error", handler: status(401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}`),
			want: "Incorrect API key", status: 401},
		{name: "400 from vLLM", handler: status(400, `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}`),
			want: "max_tokens is too large", status: 400},
		{name: "503 plain text", handler: status(503, "overloaded"), want: "overloaded", status: 503, temporary: true},
		{name: "429 empty", handler: status(429, ""), want: "empty body", status: 429, temporary: true},
		{name: "bad JSON event", handler: streamParts(textChunk("a", "", nil), "data: {not json\n\n"),
			want: "malformed stream", text: "a"},
		{name: "event without choices", handler: streamParts(`data: {"id":"x"}` + "\n\n"), want: "no choices"},
		{name: "error event", handler: streamParts(textChunk("a", "", nil), `data: {"error":{"message":"CUDA out of memory"}}`+"\n\n"),
			want: "server error: CUDA out of memory", text: "a"},
		{name: "named error event", handler: streamParts("event: error\ndata: {}\n\n"), want: "server error"},
		{name: "line too long", handler: streamParts(long), want: "longer than"},
		{name: "stream cut short", handler: streamParts(textChunk("a", "", nil)), want: "ended before", text: "a"},
		{name: "empty stream", handler: streamParts(""), want: "ended before"},
		{name: "unknown finish reason", handler: streamParts(textChunk("a", "abort", nil), done), want: `"abort"`, text: "a"},
		{name: "more chunks than max tokens", handler: endless("tok"), req: engine.Request{MaxTokens: 5}, want: "more than max_tokens"},
		{name: "more text than allowed", handler: endless(strings.Repeat("x", 64<<10)), want: "more than 8388608 bytes"},
		{name: "bad sampling", handler: streamParts(done), req: engine.Request{Sampling: engine.Sampling{Temperature: -1}}, want: "temperature"},
		{name: "empty stop string", handler: streamParts(done), req: engine.Request{Stop: []string{""}}, want: "empty stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.handler)
			res, err := newClient(t, s, Options{Model: "m"}).Generate(context.Background(), tt.req, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			var he *HTTPError
			if errors.As(err, &he) != (tt.status != 0) || (he != nil && (he.StatusCode != tt.status || he.Temporary() != tt.temporary)) {
				t.Errorf("error %#v, want status %d temporary %v", err, tt.status, tt.temporary)
			}
			if tt.text != "" && res.Text != tt.text {
				t.Errorf("text %q, want %q kept", res.Text, tt.text)
			}
		})
	}
}

// TestRetryAfter reads the Retry-After of a 429 or 503, as seconds or a date.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		header string
		min    time.Duration
		max    time.Duration
		ok     bool
	}{
		{"", 0, 0, false},
		{"3", 3 * time.Second, 3 * time.Second, true},
		{time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), 58 * time.Second, time.Minute, true},
		{"later", 0, 0, false},
	}
	for _, tt := range tests {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if tt.header != "" {
				w.Header().Set("Retry-After", tt.header)
			}
			w.WriteHeader(http.StatusTooManyRequests)
		})
		_, err := newClient(t, s, Options{Model: "m"}).Generate(context.Background(), engine.Request{}, nil)
		var he *HTTPError
		if !errors.As(err, &he) || !he.Temporary() {
			t.Fatalf("%q: error %v", tt.header, err)
		}
		if d, ok := he.RetryAfter(); ok != tt.ok || d < tt.min || d > tt.max {
			t.Errorf("Retry-After %q: %v, %v; want %v..%v, %v", tt.header, d, ok, tt.min, tt.max, tt.ok)
		}
	}
}

// A server that quotes the API key in its error (as OpenAI's "Incorrect API key
// provided: ..." does) does not get it into our error messages.
func TestErrorHidesAPIKey(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s (%s, %s)"}}`, key, url.QueryEscape(key), base64.StdEncoding.EncodeToString([]byte(key)))
	})
	const key = "sk-secret/12345+abc="
	_, err := newClient(t, s, Options{Model: "m", APIKey: key}).Generate(context.Background(), engine.Request{}, nil)
	if err == nil || !strings.Contains(err.Error(), "Incorrect API key provided: REDACTED (REDACTED, REDACTED)") {
		t.Errorf("error %v, want the key redacted in every shape", err)
	}
}

func TestTimeouts(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request)
		want    string
	}{
		{"no headers", hang, "no response"},
		{"silent mid-stream", func(w http.ResponseWriter, r *http.Request) {
			streamParts(textChunk("a", "", nil))(w, r)
			hang(w, r)
		}, "server timed out"},
		{"silent listing models", nil, "listing models"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.handler)
			opts := Options{Model: "m", HeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}
			if tt.handler == nil {
				s.Config.Handler = http.HandlerFunc(hang)
				opts.Model = ""
			}
			begin := time.Now()
			_, err := newClient(t, s, opts).Generate(context.Background(), engine.Request{}, nil)
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrTimeout %q", err, tt.want)
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("keep-alive comments keep a slow stream open", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for range 6 {
				io.WriteString(w, ": ping\n\n")
				w.(http.Flusher).Flush()
				time.Sleep(40 * time.Millisecond)
			}
			io.WriteString(w, textChunk("late", "stop", nil)+done)
		})
		c := newClient(t, s, Options{Model: "m", IdleTimeout: 150 * time.Millisecond})
		if res, err := c.Generate(context.Background(), engine.Request{}, nil); err != nil || res.Text != "late" {
			t.Errorf("result %q, %v", res.Text, err)
		}
	})
}

func TestCancel(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			io.WriteString(w, textChunk("tok ", "", nil))
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
		}
	})
	c := newClient(t, s, Options{Model: "m"})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := c.Generate(ctx, engine.Request{}, func(string) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(res.Text, "tok tok tok ") {
		t.Errorf("error %v text %q, want canceled after 3 pieces", err, res.Text)
	}
	boom := errors.New("reader gone")
	_, err = c.Generate(context.Background(), engine.Request{}, func(string) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want the callback's", err)
	}
}

func TestNewURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:8000":     "http://h:8000",
		"http://h:8000/":    "http://h:8000",
		"http://h:8000/v1":  "http://h:8000",
		"https://h/api/v1/": "https://h/api",
		"localhost:8000":    "",
		"ftp://h/v1/":       "",
	} {
		c, err := New(in, Options{})
		switch {
		case want == "" && err == nil:
			t.Errorf("New(%q) accepted", in)
		case want != "" && (err != nil || c.base != want):
			t.Errorf("New(%q) = %v, %v; want base %q", in, c, err, want)
		}
	}
}

// countingTransport counts the bytes of response bodies the client reads.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// A server that streams data: lines forever and never ends the event with a
// blank line (or sends one endless line) gets an error naming the limit after a
// bounded number of bytes, not the memory of the machine.
func TestEndlessEvent(t *testing.T) {
	tests := []struct {
		name  string
		piece string
		limit int
	}{
		{"data lines without a blank line", "data: " + strings.Repeat("x", 1000) + "\n", maxEvent},
		{"short data lines", "data: {}\n", maxEvent},
		{"one endless line", strings.Repeat("y", 4096), maxLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				if tt.piece[0] == 'y' {
					io.WriteString(w, "data: ")
				}
				chunk := strings.Repeat(tt.piece, 64)
				for r.Context().Err() == nil {
					if _, err := io.WriteString(w, chunk); err != nil {
						return
					}
				}
			})
			ct := &countingTransport{}
			c := newClient(t, s, Options{Model: "m", HTTPClient: &http.Client{Transport: ct}})
			_, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil)
			if !errors.Is(err, ErrStreamTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(tt.limit)) {
				t.Fatalf("error %v, want ErrStreamTooLarge naming %d", err, tt.limit)
			}
			// What the scanner and the transport buffer beyond the limit is small.
			if n := ct.n.Load(); n > int64(tt.limit)+2*maxLine {
				t.Errorf("read %d bytes before giving up, limit %d", n, tt.limit)
			}
		})
	}
}
