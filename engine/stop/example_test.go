package stop_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/engine/stop"
)

func Example() {
	m, err := stop.New([]string{"\nObservation:"})
	if err != nil {
		panic(err)
	}
	for _, piece := range []string{"Plan: search", "\nObs", "ervation: x"} {
		out, stopped := m.Add(piece)
		fmt.Printf("%q %v\n", out, stopped)
		if stopped {
			break
		}
	}
	// Output:
	// "Plan: search" false
	// "" false
	// "" true
}
