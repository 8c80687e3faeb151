package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/llama"
	agentopenai "github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

var _ IDGenerator = (*generate.Generator)(nil)

// TestRealEngine serves the tiny AutoGPTQ checkpoint on the CPU engine: greedy text
// through the server (the official client, streamed or not, text or ids, and our
// own engine/openai client) equals engine/generate's for the same prompt.
func TestRealEngine(t *testing.T) {
	ctx := context.Background()
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*generate.Generator, *llama.Model) {
		m, err := llama.Open(ctx, fixtures.GPTQ("tiny-4bit-128g-actorder"), cpu.New(), llama.Options{Context: 64})
		if err != nil {
			t.Fatal(err)
		}
		return generate.New(m, tok), m
	}
	ref, refModel := open()
	defer refModel.Close()
	// The checkpoint's vocabulary is the tokenizer's first 1024 ids: these words
	// are among them.
	const prompt = "it is in the"
	ids := ref.PromptIDs(prompt)
	for _, id := range ids {
		if id >= refModel.VocabSize() {
			t.Fatalf("prompt id %d is outside the model's %d", id, refModel.VocabSize())
		}
	}
	const maxTokens = 12
	want, err := ref.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: maxTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len([]rune(want.Text)) < 2 {
		t.Fatalf("the reference generated %q: too little text to test with", want.Text)
	}
	t.Logf("greedy: %q", want.Text)

	released := 0
	_, hs := serve(t, nil, Options{Load: func(context.Context) (engine.LLM, func() error, error) {
		g, m := open()
		return g, func() error { released++; return m.Close() }, nil
	}})
	c := client(hs)
	params := openai.CompletionNewParams{
		Model:       model,
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
		MaxTokens:   openai.Int(maxTokens),
		Temperature: openai.Float(0),
	}
	got, err := c.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Text != want.Text || got.Usage.CompletionTokens != int64(want.Tokens) ||
		got.Usage.PromptTokens != int64(want.PromptTokens) {
		t.Errorf("served %q (%d+%d tokens), generate gives %q (%d+%d)", got.Choices[0].Text,
			got.Usage.PromptTokens, got.Usage.CompletionTokens, want.Text, want.PromptTokens, want.Tokens)
	}

	params.Prompt = openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: toInt64(ids)}
	stream := c.Completions.NewStreaming(ctx, params)
	var text strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Text)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != want.Text {
		t.Errorf("streamed from ids %q, want %q", text.String(), want.Text)
	}

	_, err = c.Completions.New(ctx, openai.CompletionNewParams{
		Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 5000}},
	})
	if e := apiErr(t, err); e.StatusCode != 400 || e.Param != "prompt" || !strings.Contains(e.Message, "5000") {
		t.Errorf("an id outside the vocabulary: %v", err)
	}

	ours, err := agentopenai.New(hs.URL, agentopenai.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ours.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: maxTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != want.Text || res.Stop != want.Stop || res.Tokens != want.Tokens || res.PromptTokens != want.PromptTokens {
		t.Errorf("engine/openai got %q %s %d+%d, want %q %s %d+%d", res.Text, res.Stop, res.PromptTokens, res.Tokens,
			want.Text, want.Stop, want.PromptTokens, want.Tokens)
	}
	// A stop string inside the greedy text ends it there, for both clients.
	runes := []rune(want.Text)
	stopAt := string(runes[len(runes)/2])
	res, err = ours.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: maxTokens, Stop: []string{stopAt}}, nil)
	if wantCut := want.Text[:strings.Index(want.Text, stopAt)]; err != nil || res.Text != wantCut || res.Stop != engine.StopString {
		t.Errorf("with stop %q: %q %s %v, want %q stop", stopAt, res.Text, res.Stop, err, wantCut)
	}
	if released != 0 {
		t.Errorf("the model was released %d times while kept alive", released)
	}
}

// TestRealEngineConcurrent: 64 clients at once on the CPU engine, each with its own
// prompt; every one gets exactly the greedy text engine/generate gives its prompt
// alone.
func TestRealEngineConcurrent(t *testing.T) {
	ctx := context.Background()
	tok, err := tokenizer.Load(fixtures.Tokenizer("tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(ctx, fixtures.GPTQ("tiny-4bit-128g-actorder"), cpu.New(), llama.Options{Context: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g := generate.New(m, tok)
	words := []string{"it", "is", "in", "the", "a"} // ids below the checkpoint's 1024
	var prompts []string
	for i := 0; len(prompts) < 64; i++ {
		var p []string
		for n := i; len(p) == 0 || n > 0; n /= len(words) {
			p = append(p, words[n%len(words)])
		}
		prompts = append(prompts, strings.Join(p, " "))
	}
	const maxTokens = 6
	want := make([]string, len(prompts))
	for i, p := range prompts {
		res, err := g.Generate(ctx, engine.Request{Prompt: p, MaxTokens: maxTokens}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Text
	}

	_, hs := serve(t, g, Options{})
	errs := make(chan error, len(prompts))
	for i, p := range prompts {
		go func() {
			got, err := client(hs).Completions.New(ctx, openai.CompletionNewParams{
				Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(p)},
				MaxTokens: openai.Int(maxTokens), Temperature: openai.Float(0),
			})
			switch {
			case err != nil:
				errs <- err
			case got.Choices[0].Text != want[i]:
				errs <- fmt.Errorf("prompt %q: %q, want %q", p, got.Choices[0].Text, want[i])
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
}

func toInt64(ids []int) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}
