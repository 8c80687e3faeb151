package constrain_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/planner/constrain"
)

// A grammar admits a plan byte by byte; Finish completes a cut-off one.
func Example() {
	g, err := constrain.New(constrain.Options{Tools: []string{"DuckDuckGo", "KnowledgeModel"}, RequireAnswer: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := g.Advance(g.Start(), "Plan: Search the web.\n:evidence0: = DuckDuckGo[Nobel Prize 2020]\n:evidence1: = KnowledgeModel[Who won, given :evidence0")
	fmt.Println(err, g.Accepting(s))
	fmt.Printf("%q\n", g.Finish(s))

	_, err = g.Advance(g.Start(), ":evidence0: = Calculator[2+2]")
	fmt.Println(err)
	_, err = g.Advance(g.Start(), ":evidence0: = DuckDuckGo[see :evidence3:]")
	fmt.Println(err)
	// Output:
	// <nil> false
	// ":]\nAnswer: :evidence1:"
	// constrain: text leaves the plan language: byte 14 ('C')
	// constrain: text leaves the plan language: byte 39 (':')
}
