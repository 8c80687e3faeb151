package generate

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/engine"
)

func Example() {
	// A model that answers any one-token prompt with "Paris.\nUSER: ..." and a
	// byte-level tokenizer stand in for a checkpoint and its tokenizer.
	model := &fakeModel{promptLen: 2, script: byteTokenizer{}.script("Paris.\nUSER: more"), ctxLen: 64}
	g := New(model, byteTokenizer{})
	res, err := g.Generate(context.Background(), engine.Request{
		Prompt: "?",
		Stop:   []string{"\nUSER:"},
	}, func(piece string) error {
		fmt.Print(piece)
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("\n%q %s after %d tokens\n", res.Text, res.Stop, res.Tokens)
	// Output:
	// Paris.
	// "Paris." stop after 12 tokens
}
