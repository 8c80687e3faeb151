package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestLLMAPI: engine.llm_api picks the server's endpoint; auto finds the chat
// endpoint of a chat-only server; a bad value is a usage error.
func TestLLMAPI(t *testing.T) {
	cleanEnv(t)
	var completions, chats atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			chats.Add(1)
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, `data: {"choices":[{"delta":{"content":"from chat"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
		case "/v1/completions":
			completions.Add(1)
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		args              []string
		completions, chat int32
	}{
		{[]string{"--llm-api", "chat"}, 0, 1},
		{nil, 1, 1}, // auto, the default
	} {
		completions.Store(0)
		chats.Store(0)
		args := append([]string{"generate", "--llm-url", srv.URL, "--llm-model", "m", "--prompt", "Hi"}, tt.args...)
		out, errOut, code := runAgent(t, "", args...)
		if code != 0 || !strings.Contains(out, "from chat") || completions.Load() != tt.completions || chats.Load() != tt.chat {
			t.Errorf("%v: exit %d, %d completions and %d chat calls\n%s%s", tt.args, code, completions.Load(), chats.Load(), out, errOut)
		}
	}
	_, errOut, code := runAgent(t, "", "generate", "--llm-url", srv.URL, "--prompt", "Hi", "--llm-api", "responses")
	if code != 2 || !strings.Contains(errOut, "engine.llm_api") || !strings.Contains(errOut, "want auto, completions or chat") {
		t.Errorf("bad --llm-api: exit %d %s", code, errOut)
	}
}
