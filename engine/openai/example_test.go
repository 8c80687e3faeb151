package openai_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
)

func Example() {
	// A stand-in for vLLM or llama-server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"text":"Paris","finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"text":".","finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	llm, err := openai.New(srv.URL, openai.Options{Model: "airoboros-65b"})
	if err != nil {
		panic(err)
	}
	res, err := llm.Generate(context.Background(), engine.Request{
		Prompt:    "USER: What is the capital of France? ASSISTANT:",
		MaxTokens: 16,
	}, func(piece string) error {
		fmt.Printf("[%s]", piece)
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("\n%s, %d tokens\n", res.Stop, res.Tokens)
	// Output:
	// [Paris][.]
	// eos, 2 tokens
}
