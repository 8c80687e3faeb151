package speculate_test

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/engine/speculate"
)

func ExampleLookup() {
	// The text ends in 10 11, which occurred before, followed by 12 20 21: the
	// draft copies those, as an answer copies its evidence.
	ids := []int{10, 11, 12, 20, 21, 13, 10, 11}
	draft, _ := speculate.Lookup{}.Draft(context.Background(), ids, 3)
	fmt.Println(draft)
	// Output: [12 20 21]
}
