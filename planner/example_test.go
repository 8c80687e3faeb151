package planner_test

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

func ExamplePlanner_Ask() {
	plan := ` :evidence0: = Search[Nobel Prize in Literature 2020]
:evidence1: = Shout[The winner is :evidence0:]
Answer: :evidence1:
`
	llm := planner.Recorded(&plannertest.Engine{Replies: []plannertest.Reply{{Text: plan}}})
	search := tools.Func{ToolName: "Search", Desc: "Searches the web.", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "Louise Glück", Sources: []string{"https://www.nobelprize.org/"}}, nil
	}}
	shout := tools.Func{ToolName: "Shout", Desc: "Shouts.", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: req.Input + "!"}, nil
	}}
	reg, _ := tools.NewRegistry(search, shout)
	p := &planner.Planner{LLM: llm, Tools: reg}
	tr, err := p.Ask(context.Background(), "Who won the Nobel Prize in Literature in 2020?", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr.Answer.Text, tr.Answer.Sources)
	fmt.Println(tr.Steps[1].ResolvedInput)
	fmt.Println(len(tr.EngineCalls), tr.EngineCalls[0].Purpose, tr.EngineCalls[0].Stop)
	// Output:
	// The winner is Louise Glück! [{https://www.nobelprize.org/ [:evidence0:]}]
	// The winner is Louise Glück
	// 1 plan answer-line
}

func ExamplePlanner_Run() {
	echo := tools.Func{ToolName: "Echo", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "<" + req.Input + ">"}, nil
	}}
	reg, _ := tools.NewRegistry(echo)
	plan, err := planparser.Parse("#E1 = Echo[a]\n#E2 = Echo[#E1 b]\nAnswer: #E2", planparser.Options{Tools: reg.Names()})
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := (&planner.Planner{Tools: reg}).Run(context.Background(), plan, nil)
	fmt.Println(tr.Answer.Text, err)
	for _, s := range tr.Steps {
		fmt.Println(s.Name, s.State, s.ResolvedInput)
	}
	fmt.Println(tr.Timings.CriticalPath)
	// Output:
	// <<a> b> <nil>
	// #E1 done a
	// #E2 done <a> b
	// [#E1 #E2]
}

// A step fails; the new plan cites the evidence that succeeded by name, and
// that step does not run again.
func ExamplePlanner_Replans() {
	first := " :evidence0: = Search[Nobel 2020]\n:evidence1: = Fetch[:evidence0:]\nAnswer: :evidence1:\n"
	second := " :evidence2: = Shout[:evidence0:]\nAnswer: :evidence2:\n"
	llm := planner.Recorded(&plannertest.Engine{Replies: []plannertest.Reply{
		{Match: "steps failed", Text: second}, {Text: first}}})
	searches := 0
	search := tools.Func{ToolName: "Search", Desc: "Searches the web.", Fn: func(context.Context, tools.Request) (tools.Output, error) {
		searches++
		return tools.Output{Text: "Louise Glück"}, nil
	}}
	fetch := tools.Func{ToolName: "Fetch", Desc: "Reads a page.", Fn: func(context.Context, tools.Request) (tools.Output, error) {
		return tools.Output{}, fmt.Errorf("HTTP 404")
	}}
	shout := tools.Func{ToolName: "Shout", Desc: "Shouts.", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: req.Input + "!"}, nil
	}}
	reg, _ := tools.NewRegistry(search, fetch, shout)
	p := &planner.Planner{LLM: llm, Tools: reg, Replans: 1}
	tr, err := p.Ask(context.Background(), "Who won?", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr.Answer.Text, tr.Replans, tr.Stop, searches)
	for _, s := range tr.Steps {
		fmt.Println(s.Name, s.State, s.Reused)
	}
	// Output:
	// Louise Glück! 1 answered 1
	// :evidence0: done true
	// :evidence2: done false
}

// Later questions of a conversation cite the evidence of earlier ones.
func ExampleConversation() {
	llm := planner.Recorded(&plannertest.Engine{Replies: []plannertest.Reply{
		{Match: "Earlier in this conversation", Text: " :evidence1: = Shout[:evidence0:]\nAnswer: :evidence1:\n"},
		{Text: " :evidence0: = Search[Nobel 2020]\nAnswer: :evidence0:\n"}}})
	search := tools.Func{ToolName: "Search", Desc: "Searches the web.", Fn: func(context.Context, tools.Request) (tools.Output, error) {
		return tools.Output{Text: "Louise Glück"}, nil
	}}
	shout := tools.Func{ToolName: "Shout", Desc: "Shouts.", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: req.Input + "!"}, nil
	}}
	reg, _ := tools.NewRegistry(search, shout)
	p := &planner.Planner{LLM: llm, Tools: reg}
	var c planner.Conversation
	for _, q := range []string{"Who won in 2020?", "Say it louder."} {
		tr, err := c.Ask(context.Background(), p, q, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tr.Answer.Text)
	}
	// Output:
	// Louise Glück
	// Louise Glück!
}
