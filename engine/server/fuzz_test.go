package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// fuzzServer answers with the echo fake; the body limit keeps prompts small.
func fuzzServer(t testing.TB) *Server {
	f := &fakeLLM{reply: echo}
	s, err := New(Options{Model: model, MaxBodyBytes: 64 << 10, Load: func(context.Context) (engine.LLM, func() error, error) {
		return f, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check posts body to path and checks the answer: 200 with a well-formed response
// or event stream, or a 4xx error in OpenAI's shape; never a 5xx.
func check(t *testing.T, s *Server, path string, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	switch {
	case w.Code == http.StatusOK && w.Header().Get("Content-Type") == "text/event-stream":
		sc := bufio.NewScanner(w.Body)
		var last string
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if last = data; data != "[DONE]" && !json.Valid([]byte(data)) {
				t.Fatalf("event %q is not JSON", data)
			}
		}
		if last != "[DONE]" {
			t.Fatalf("stream ends with %q", last)
		}
	case w.Code == http.StatusOK:
		var r struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *usage            `json:"usage"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || len(r.Choices) != 1 || r.Usage == nil {
			t.Fatalf("response %s", w.Body)
		}
	case w.Code >= 400 && w.Code < 500:
		var e struct {
			Error *apiError `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Message == "" {
			t.Fatalf("%d with body %s", w.Code, w.Body)
		}
	default:
		t.Fatalf("%d for %q: %s", w.Code, body, w.Body)
	}
	return w.Code
}

func seeds(f *testing.F, dir string) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzCompletions(f *testing.F) {
	seeds(f, "completions")
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) { check(t, s, "/v1/completions", body) })
}

func FuzzChat(f *testing.F) {
	seeds(f, "chat")
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) { check(t, s, "/v1/chat/completions", body) })
}

// TestTestdata: the seeds named refused are refused, the others answered; the
// engine-openai seed is the body engine/openai sends.
func TestTestdata(t *testing.T) {
	s := fuzzServer(t)
	for _, dir := range []string{"completions", "chat"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				path := map[string]string{"completions": "/v1/completions", "chat": "/v1/chat/completions"}[dir]
				want := http.StatusOK
				if strings.Contains(file, "refused") {
					want = http.StatusBadRequest
				}
				if got := check(t, s, path, b); got != want {
					t.Errorf("status %d, want %d", got, want)
				}
			})
		}
	}
}
