package constrain_test

import (
	"fmt"
	"strings"

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

// GBNF writes the plans after a gathered step as a grammar for a server: the
// next step is :evidence1:, and its input may cite :evidence0:.
func ExampleGrammar_GBNF() {
	g, err := constrain.New(constrain.Options{Tools: []string{"LLM", "Search"}, RequireAnswer: true, Limits: constrain.Limits{MaxSteps: 3}})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := g.Advance(g.Start(), ":evidence0: = Search[Nobel Prize 2020]\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := g.GBNF(s, ":evidence1:")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(text, "\n") {
		for _, rule := range []string{"root", "tool", "seg-c1-0", "rc-c1-0", "in-c1-0"} {
			if strings.HasPrefix(line, rule+" ::=") {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// root ::= pre (seg-c1-0)
	// rc-c1-0 ::= ":evidence0:"
	// in-c1-0 ::= run (rc-c1-0 run){0,16} ":"? (eol ws (rc-c1-0)?)?
	// seg-c1-0 ::= gap notes ws ":evidence1:" ws "=" ws call-c1-0-2 comment eol (seg-c1-1 | gap ans-c1-1 epi)
	// tool ::= "LLM" | "Search"
}
