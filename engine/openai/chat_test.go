package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	engineserver "github.com/rewoo-agent/agent/engine/server"
)

func TestMessages(t *testing.T) {
	plain := chat.Template{User: "USER:", Assistant: "ASSISTANT:"}
	tests := []struct {
		name   string
		t      chat.Template
		prompt string
		want   []chatMessage
	}{
		{"Airoboros prompt", chat.Airoboros, chat.Airoboros.Prompt("What is 2+2?"),
			[]chatMessage{{"system", chat.AiroborosSystem}, {"user", "What is 2+2?"}}},
		{"a message quoting the markers", chat.Airoboros, chat.Airoboros.Prompt("say USER: hi ASSISTANT: ok"),
			[]chatMessage{{"system", chat.AiroborosSystem}, {"user", "say USER: hi ASSISTANT: ok"}}},
		{"a template without a preamble", plain, plain.Prompt("Hi"), []chatMessage{{"user", "Hi"}}},
		{"another preamble", chat.Airoboros, "You are terse. USER: Hi ASSISTANT:",
			[]chatMessage{{"system", "You are terse."}, {"user", "Hi"}}},
		{"multi-line closed-context message", chat.Airoboros, chat.Airoboros.Prompt("BEGININPUT\nx\nENDINPUT"),
			[]chatMessage{{"system", chat.AiroborosSystem}, {"user", "BEGININPUT\nx\nENDINPUT"}}},
		{"raw prompt", chat.Airoboros, "Once upon a time", []chatMessage{{"user", "Once upon a time"}}},
		{"ends with the marker but has no user turn", chat.Airoboros, "Q: x ASSISTANT:",
			[]chatMessage{{"user", "Q: x ASSISTANT:"}}},
		{"empty", chat.Airoboros, "", []chatMessage{{"user", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := messages(tt.t, tt.prompt); !slices.Equal(got, tt.want) {
				t.Errorf("messages(%q) = %q, want %q", tt.prompt, got, tt.want)
			}
		})
	}
}

// chatChunk is an event as vLLM and OpenAI stream a chat completion.
func chatChunk(delta map[string]any, finish string) string {
	b, _ := json.Marshal(map[string]any{
		"object":  "chat.completion.chunk",
		"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": nilIfEmpty(finish)}},
	})
	return "data: " + string(b) + "\n\n"
}

func content(s string) map[string]any { return map[string]any{"content": s} }

// chatServer serves only /v1/chat/completions (and /v1/models); completions
// answers code, as a chat-only server does. It records what it got.
type chatServer struct {
	*httptest.Server
	mu          sync.Mutex
	chats       []chatRequest
	completions atomic.Int32 // requests to /v1/completions
}

func newChatServer(t *testing.T, code int, handler func(w http.ResponseWriter, r *http.Request)) *chatServer {
	t.Helper()
	s := &chatServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			io.WriteString(w, `{"object":"list","data":[{"id":"gpt-chat"}]}`)
		case "/v1/completions":
			s.completions.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":{"message":"no completions here (%d)"}}`, code)
		case "/v1/chat/completions":
			var req chatRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			s.chats = append(s.chats, req)
			s.mu.Unlock()
			handler(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestChat(t *testing.T) {
	role := map[string]any{"role": "assistant", "content": ""}
	tests := []struct {
		name    string
		req     engine.Request
		handler func(http.ResponseWriter, *http.Request)
		text    string
		pieces  []string
		stop    engine.StopReason
		tokens  int
	}{
		{"streamed deltas with usage", engine.Request{Prompt: chat.Airoboros.Prompt("Hi")},
			streamParts(chatChunk(role, ""), chatChunk(content("Hel"), ""), chatChunk(content("lo"), ""),
				chatChunk(map[string]any{}, "stop"), usageChunk, done),
			"Hello", []string{"Hel", "lo"}, engine.StopEOS, 3},
		{"length without usage counts chunks", engine.Request{Prompt: "Hi", MaxTokens: 2},
			streamParts(chatChunk(content("a"), ""), chatChunk(content("b"), "length"), done),
			"ab", []string{"a", "b"}, engine.StopLength, 2},
		{"stop string applied here", engine.Request{Prompt: "Hi", Stop: []string{"\nObservation"}},
			streamParts(chatChunk(content("Plan: a\nObs"), ""), chatChunk(content("ervation: b"), ""), chatChunk(content("c"), "")),
			"Plan: a", []string{"Plan: a"}, engine.StopString, 2},
		{"a whole answer", engine.Request{Prompt: "Hi"}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":1}}`)
		}, "whole", nil, engine.StopEOS, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newChatServer(t, http.StatusNotFound, tt.handler)
			c, err := New(s.URL, Options{API: APIChat})
			if err != nil {
				t.Fatal(err)
			}
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
			if !slices.Equal(pieces, tt.pieces) && tt.pieces != nil {
				t.Errorf("pieces %q, want %q", pieces, tt.pieces)
			}
			if n := s.completions.Load(); n != 0 {
				t.Errorf("%d calls to /v1/completions with API chat", n)
			}
			got := s.chats[0]
			want := chatRequest{Model: "gpt-chat", Messages: messages(chat.Airoboros, tt.req.Prompt), settings: newSettings(tt.req, constraint{})}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("request\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestChatRequestFields(t *testing.T) {
	var raw map[string]any
	s := newChatServer(t, http.StatusNotFound, func(w http.ResponseWriter, r *http.Request) {
		streamParts(chatChunk(content("a"), "stop"), done)(w, r)
	})
	s.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			json.Unmarshal(body, &raw)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			next.ServeHTTP(w, r)
		})
	}(s.Config.Handler)
	c, _ := New(s.URL, Options{API: APIChat, Model: "m", APIKey: "k"})
	req := engine.Request{Prompt: chat.Airoboros.Prompt("Q"), MaxTokens: 7, Stop: []string{"X"},
		Sampling: engine.Sampling{Temperature: 0.5, TopK: 3, Seed: 9}}
	if _, err := c.Generate(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model": "m", "max_tokens": 7.0, "temperature": 0.5, "top_k": 3.0, "top_p": 1.0, "seed": 9.0,
		"stop": []any{"X"}, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []any{map[string]any{"role": "system", "content": chat.AiroborosSystem}, map[string]any{"role": "user", "content": "Q"}},
	}
	for k, v := range want {
		if fmt.Sprint(raw[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, raw[k], v)
		}
	}
	if _, ok := raw["prompt"]; ok {
		t.Errorf("a chat request with a prompt field: %v", raw)
	}
}

func TestAuto(t *testing.T) {
	ok := streamParts(chatChunk(content("chat answer"), "stop"), done)
	for _, code := range []int{http.StatusNotFound, http.StatusMethodNotAllowed} {
		t.Run(fmt.Sprint("completions answers ", code), func(t *testing.T) {
			s := newChatServer(t, code, ok)
			c, _ := New(s.URL, Options{})
			for i := range 3 {
				res, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil)
				if err != nil || res.Text != "chat answer" {
					t.Fatalf("call %d: %q, %v", i, res.Text, err)
				}
			}
			if n := s.completions.Load(); n != 1 {
				t.Errorf("%d calls to /v1/completions, want 1 (then chat is kept)", n)
			}
		})
	}
	t.Run("other errors do not fall back", func(t *testing.T) {
		s := newChatServer(t, http.StatusBadRequest, ok)
		c, _ := New(s.URL, Options{})
		_, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil)
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest || len(s.chats) != 0 {
			t.Errorf("error %v after %d chat calls, want the 400 and none", err, len(s.chats))
		}
	})
	t.Run("both endpoints missing", func(t *testing.T) {
		s := newServer(t, nil)
		s.Config.Handler = http.NotFoundHandler()
		c, _ := New(s.URL, Options{Model: "m"})
		_, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil)
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound ||
			!strings.Contains(err.Error(), "/v1/chat/completions") || !strings.Contains(err.Error(), "/v1/completions answered Not Found") {
			t.Errorf("error %v, want both endpoints named", err)
		}
	})
	t.Run("a completions server keeps completions", func(t *testing.T) {
		s := newServer(t, streamParts(textChunk("a", "stop", nil), done))
		c, _ := New(s.URL, Options{Model: "m"})
		for range 2 {
			if _, err := c.Generate(context.Background(), engine.Request{Prompt: "Hi"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.requests) != 2 {
			t.Errorf("%d completions requests, want 2", len(s.requests))
		}
	})
}

func TestParseAPI(t *testing.T) {
	for in, want := range map[string]API{"": APIAuto, "auto": APIAuto, "chat": APIChat, "completions": APICompletions, "Chat": "", "responses": ""} {
		got, err := ParseAPI(in)
		if got != want || (err == nil) != (want != "") || (err != nil && !errors.Is(err, ErrAPI)) {
			t.Errorf("ParseAPI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := New("http://h", Options{API: "responses"}); !errors.Is(err, ErrAPI) {
		t.Errorf("New with an unknown API: %v", err)
	}
}

func TestChatErrorHidesAPIKey(t *testing.T) {
	s := newChatServer(t, http.StatusNotFound, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, url.QueryEscape(key))
	})
	const key = "sk-secret/12345+abc="
	c, _ := New(s.URL, Options{APIKey: key})
	_, err := c.Generate(context.Background(), engine.Request{}, nil)
	if err == nil || strings.Contains(err.Error(), "12345") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("error %v, want the key redacted", err)
	}
}

func TestChatTooLarge(t *testing.T) {
	s := newChatServer(t, http.StatusNotFound, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		piece := chatChunk(content(strings.Repeat("x", 64<<10)), "")
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, piece); err != nil {
				return
			}
		}
	})
	c, _ := New(s.URL, Options{API: APIChat})
	if _, err := c.Generate(context.Background(), engine.Request{}, nil); err == nil || !strings.Contains(err.Error(), "more than 8388608 bytes") {
		t.Errorf("error %v, want the text limit", err)
	}
}

// recorder is an engine that answers every prompt with "ok." and records them.
type recorder struct {
	mu      sync.Mutex
	prompts []string
}

func (r *recorder) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	r.mu.Lock()
	r.prompts = append(r.prompts, req.Prompt)
	r.mu.Unlock()
	for _, p := range []string{"o", "k."} {
		if err := onText(p); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{Text: "ok.", Tokens: 2, PromptTokens: 5, Stop: engine.StopEOS}, nil
}

// Against our own server, the chat endpoint puts the planner's prompt back
// together exactly: the engine sees the same text through either endpoint, the
// template applied once. A proxy that hides /v1/completions makes it chat-only,
// and auto finds its chat endpoint.
func TestOwnServer(t *testing.T) {
	llm := &recorder{}
	srv, err := engineserver.New(engineserver.Options{Model: "airoboros", Load: func(context.Context) (engine.LLM, func() error, error) {
		return llm, nil, nil
	}, APIKeys: []string{"key"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	direct := httptest.NewServer(srv)
	t.Cleanup(direct.Close)
	target, _ := url.Parse(direct.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	chatOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(chatOnly.Close)

	prompt := chat.Airoboros.Prompt("Who wrote Hamlet?")
	for _, tt := range []struct {
		name string
		url  string
		api  API
	}{
		{"completions", direct.URL, APICompletions},
		{"chat", direct.URL, APIChat},
		{"auto on a chat-only server", chatOnly.URL, APIAuto},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.url, Options{API: tt.api, APIKey: "key"})
			if err != nil {
				t.Fatal(err)
			}
			var streamed strings.Builder
			res, err := c.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 8, Stop: []string{"\n"}},
				func(s string) error { streamed.WriteString(s); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "ok." || streamed.String() != "ok." || res.Tokens != 2 || res.PromptTokens != 5 || res.Stop != engine.StopEOS {
				t.Errorf("result %+v, streamed %q", res, streamed.String())
			}
			llm.mu.Lock()
			last := llm.prompts[len(llm.prompts)-1]
			llm.mu.Unlock()
			if last != prompt {
				t.Errorf("the engine got %q, want %q", last, prompt)
			}
		})
	}
}
