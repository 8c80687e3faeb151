package benchpeer_test

import (
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/internal/benchpeer"
)

func ExampleParse() {
	job := benchpeer.Job{Model: "/m", PromptTokens: 512, GenTokens: 128, Runs: 3, Seqs: []int{1, 4}}
	out := `{"name":"exllamav2","seqs":1,"prefill_s":0.17,"decode_ms_per_token":18.8}
{"name":"exllamav2","seqs":4,"decode_ms_per_token":21.5}
`
	pts, err := benchpeer.Parse(strings.NewReader(out), job)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pts {
		fmt.Printf("%s at %d: prefill %.3f s, decode %.1f ms\n", p.Name, p.Seqs, p.PrefillS, p.DecodeMsToken)
	}
	// Output:
	// exllamav2 at 1: prefill 0.170 s, decode 18.8 ms
	// exllamav2 at 4: prefill 0.000 s, decode 21.5 ms
}
