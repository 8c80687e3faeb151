package planparser_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/planparser"
)

func ExampleParse() {
	plan, err := planparser.Parse(`Plan: Search first.
:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]
:evidence1: = KnowledgeModel[Who won, given :evidence0:?]
Answer: :evidence1:
`, planparser.Options{Tools: []string{"DuckDuckGo", "KnowledgeModel"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps {
		fmt.Println(s.Pos, s.Name, s.Tool, s.Deps)
	}
	fmt.Println("answer cites", plan.Answer.Cites())
	// Output:
	// 2:1 :evidence0: DuckDuckGo []
	// 3:1 :evidence1: KnowledgeModel [:evidence0:]
	// answer cites [:evidence1:]
}

func ExampleParse_diagnostics() {
	_, err := planparser.Parse(`#E1 = Serch[weather]
#E2 = LLM[#E1 and #E3]
`, planparser.Options{Tools: []string{"Search", "LLM"}})
	fmt.Println(err)
	// Output:
	// 1:7: unknown tool "Serch" (did you mean "Search"?)
	// 2:19: reference to undefined evidence #E3
}

func ExampleStream() {
	s := planparser.NewStream(planparser.Options{})
	for _, chunk := range []string{"#E1 = Search[a", "]\n#E2 = LLM[#E1", "]\nFinal answer: #E2"} {
		for _, step := range s.Write(chunk) {
			fmt.Println("ready:", step.Name)
		}
	}
	plan, err := s.Close()
	fmt.Println(len(plan.Steps), "steps, error:", err)
	// Output:
	// ready: #E1
	// ready: #E2
	// 2 steps, error: <nil>
}
