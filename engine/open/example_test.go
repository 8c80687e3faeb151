package open_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
)

func ExampleParseDevice() {
	for _, d := range []string{"auto", "cpu", "cuda:1"} {
		name, ordinal, err := open.ParseDevice(d)
		fmt.Printf("%s: %q %d %v\n", d, name, ordinal, err)
	}
	// Output:
	// auto: "" 0 <nil>
	// cpu: "cpu" 0 <nil>
	// cuda:1: "cuda" 1 <nil>
}

// A lazy engine costs nothing until a generation needs it; a local one counts
// tokens with its tokenizer alone before that.
func ExampleNewLazy() {
	lazy := open.NewLazy(open.Spec{Model: "TheBloke/airoboros-65B-gpt4-m2.0-GPTQ", Device: "auto", Progress: os.Stderr})
	defer lazy.Close()
	llm := lazy.LLM()
	if tc, ok := llm.(engine.TokenCounter); ok {
		n, err := tc.CountTokens("How long is this?")
		fmt.Println(n, err)
	}
	res, err := llm.Generate(context.Background(), engine.Request{Prompt: "USER: Hi\nASSISTANT:", MaxTokens: 16}, nil)
	fmt.Println(res.Text, err)
}
