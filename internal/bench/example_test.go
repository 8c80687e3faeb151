package bench_test

import (
	"context"
	"log"
	"os"

	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/bench"
)

// The report of a 128-token prompt and 64 greedy tokens, three timed runs,
// then the batched engine at 1 and 8 calls at once; its times vary, so this
// example is compiled, not run.
func ExampleRun() {
	spec := open.Spec{Model: "models/llama-7b-gptq", Device: "cuda"}
	res, err := bench.Run(context.Background(), spec, bench.Options{Prompt: 128, Gen: 64, Runs: 3, Seqs: []int{1, 8}}, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	if err := res.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
