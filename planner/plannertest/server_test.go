package plannertest

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
)

func TestServerStreams(t *testing.T) {
	e := &Engine{Replies: []Reply{{Text: "Plan: a\nAnswer: b\nUSER: c"}}}
	srv := e.NewServer()
	defer srv.Close()
	tests := []struct {
		name, body string
		want       string
		finish     string
		events     int
	}{
		{"stop list", `{"prompt":"q","stream":true,"stop":["USER:"]}`, "Plan: a\nAnswer: b\n", "stop", 6},
		{"stop string", `{"prompt":["q"],"stream":true,"stop":"Answer"}`, "Plan: a\n", "stop", 3},
		{"max tokens", `{"prompt":"q","stream":true,"max_tokens":2}`, "Plan: a", "length", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var text strings.Builder
			events, done, finish := 0, false, ""
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				if data == "[DONE]" {
					done = true
					continue
				}
				var c completion
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				if c.Choices[0].FinishReason != nil {
					finish = *c.Choices[0].FinishReason
					if c.Usage == nil || c.Usage.CompletionTokens == 0 {
						t.Errorf("last event lacks usage: %s", data)
					}
					continue
				}
				events++
				text.WriteString(c.Choices[0].Text)
			}
			if text.String() != tt.want || finish != tt.finish || !done || events != tt.events {
				t.Errorf("got %q finish %q done %v events %d, want %q %q true %d", text.String(), finish, done, events, tt.want, tt.finish, tt.events)
			}
		})
	}
}

func TestServerRejects(t *testing.T) {
	srv := (&Engine{}).NewServer()
	defer srv.Close()
	for _, body := range []string{`{`, `{"prompt":["a","b"]}`, `{"prompt":"a","stop":3}`} {
		resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", body, resp.StatusCode)
		}
	}
}

// TestServerWithClient checks the server against the project's own OpenAI client:
// what a remote engine streams is what the scripted engine writes.
func TestServerWithClient(t *testing.T) {
	e := &Engine{Replies: []Reply{{Text: "Plan: a\n:evidence0: = X[y]\nAnswer: :evidence0:\nUSER: more"}}}
	srv := e.NewServer()
	defer srv.Close()
	c, err := openai.New(srv.URL, openai.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	res, err := c.Generate(context.Background(), engine.Request{Prompt: "q", Stop: []string{"USER:"}}, func(s string) error {
		pieces = append(pieces, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "Plan: a\n:evidence0: = X[y]\nAnswer: :evidence0:\n"
	if strings.Join(pieces, "") != want || res.Text != want || res.Stop != engine.StopString {
		t.Errorf("got %q (%q, stop %q), want %q", pieces, res.Text, res.Stop, want)
	}
	if len(pieces) < 5 || res.Tokens != 11 || res.PromptTokens != 1 {
		t.Errorf("%d pieces, %d tokens, %d prompt tokens: not streamed token by token", len(pieces), res.Tokens, res.PromptTokens)
	}
}
