package evidence_test

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

func ExampleResolve() {
	search := tools.Func{ToolName: "Search", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "Louise Glück", Sources: []string{"https://www.nobelprize.org/"}}, nil
	}}
	shout := tools.Func{ToolName: "Shout", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: req.Input + "!"}, nil
	}}
	reg, _ := tools.NewRegistry(search, shout)
	plan, err := planparser.Parse(`#E1 = Search[Nobel Prize in Literature 2020]
#E2 = Shout[The winner is #E1]
Final answer: #E2`, planparser.Options{Tools: reg.Names()})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := evidence.Resolve(context.Background(), reg, plan, evidence.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	answer, err := res.Answer(plan.Answer)
	fmt.Println(answer, err)
	fmt.Println(res.CriticalPath, res.Get("#E1").Sources)
	// Output:
	// The winner is Louise Glück! <nil>
	// [#E1 #E2] [https://www.nobelprize.org/]
}

func ExampleSubstitute() {
	vals := map[string]*evidence.Value{
		":evidence1:":  {Name: ":evidence1:", Text: "one"},
		":evidence10:": {Name: ":evidence10:", Text: "ten"},
	}
	get := func(n string) *evidence.Value { return vals[n] }
	text, bad, err := evidence.Substitute(":evidence10: then :evidence1:, not :evidence2:", get, -1)
	fmt.Println(text)
	fmt.Println(bad, err)
	_, _, err = evidence.Substitute(":evidence10: :evidence10: :evidence10:", get, 8)
	fmt.Println(err)
	// Output:
	// ten then one, not :evidence2:
	// [:evidence2:] <nil>
	// substituted text too large: 3 references would make 11 bytes (the limit is 8)
}
