package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
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

// A chat-only server: auto (the default API) finds its chat endpoint, and the
// prompt the planner wrote with the Airoboros template goes as its system and
// user messages.
func Example_chat() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Messages []struct{ Role, Content string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		for _, m := range req.Messages {
			fmt.Printf("%s: %.40s\n", m.Role, m.Content)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"delta":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	llm, err := openai.New(srv.URL, openai.Options{Model: "gpt-chat"})
	if err != nil {
		panic(err)
	}
	res, err := llm.Generate(context.Background(), engine.Request{
		Prompt: chat.Airoboros.Prompt("What is the capital of France?"),
	}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Text)
	// Output:
	// system: A chat between a curious user and an ass
	// user: What is the capital of France?
	// Paris.
}

// A llama-server answers GET /props, so GenerateGrammar sends it the grammar
// in its "grammar" field.
func ExampleClient_GenerateGrammar() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/props":
			io.WriteString(w, `{"default_generation_settings":{"n_ctx":4096}}`)
		case "/v1/completions":
			var body struct {
				Grammar string `json:"grammar"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			fmt.Printf("grammar: %s\n", body.Grammar)
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, `data: {"choices":[{"text":"yes","finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	llm, err := openai.New(srv.URL, openai.Options{Model: "m"}) // Grammar: auto
	if err != nil {
		panic(err)
	}
	res, err := llm.GenerateGrammar(context.Background(), engine.Request{Prompt: "Yes or no?"}, `root ::= "yes" | "no"`, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Text)
	// Output:
	// grammar: root ::= "yes" | "no"
	// yes
}
