package sample_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
)

func Example() {
	s, err := sample.New(engine.Sampling{RepetitionPenalty: 2}, 4) // greedy
	if err != nil {
		panic(err)
	}
	logits := []float32{1, 3, 2, 0}
	_ = s.Observe(1) // the prompt
	id, _ := s.Sample(logits)
	fmt.Println(id) // id 1's 3 is penalized to 1.5, below id 2's 2
	// Output: 2
}
