package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/server"
)

// parrot stands in for a model: it answers every prompt with "Paris.".
type parrot struct{}

func (parrot) Generate(_ context.Context, _ engine.Request, onText func(string) error) (engine.Result, error) {
	for _, piece := range []string{"Par", "is", "."} {
		if err := onText(piece); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{Text: "Paris.", PromptTokens: 9, Tokens: 3, Stop: engine.StopEOS}, nil
}

func Example() {
	s, err := server.New(server.Options{
		Model: "airoboros-65b",
		// Called on the first request; a real loader opens the checkpoint
		// (llama.Open, generate.New) and returns the model's Close.
		Load: func(ctx context.Context) (engine.LLM, func() error, error) {
			return parrot{}, nil, nil
		},
	})
	if err != nil {
		panic(err)
	}
	// s.Serve(listener) runs it on its own http.Server; here, httptest's.
	hs := httptest.NewServer(s)
	defer hs.Close()
	defer s.Shutdown(context.Background())

	resp, err := http.Post(hs.URL+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"model": "airoboros-65b", "messages": [{"role": "user", "content": "Capital of France?"}]}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, answer.Choices[0].Message.Content, answer.Choices[0].FinishReason)
	fmt.Println(answer.Usage.PromptTokens, "+", answer.Usage.CompletionTokens, "tokens")
	// Output:
	// 200 Paris. stop
	// 9 + 3 tokens
}

func ExampleFetchPS() {
	s, err := server.New(server.Options{Model: "airoboros-65b", KeepAlive: 10 * time.Minute,
		Load: func(ctx context.Context) (engine.LLM, func() error, error) { return parrot{}, nil, nil }})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	defer s.Shutdown(context.Background())

	// What agent ps does: nothing is loaded before the first request.
	ps, err := server.FetchPS(context.Background(), nil, hs.URL, "")
	if err != nil {
		panic(err)
	}
	m := ps.Models[0]
	fmt.Println(m.Name, m.Status, m.Loaded, m.KeepAlive, "s")
	// Output: airoboros-65b unloaded false 600 s
}
