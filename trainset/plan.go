// Package trainset turns an offline world (package world) into training examples
// for a small reWOO model: planning examples (the exact prompt the planner builds
// and a gold plan derived from the question's supporting facts) and KnowledgeModel
// examples (the exact closed-context prompt tools/knowledge builds from the real
// LocalSearch output over the world's documents, and the gold short answer).
//
// The gold plan searches the entity a hop starts from, asks KnowledgeModel the
// hop's sub-question given the search results, and passes the answer on to the
// next hop's search through its evidence reference. A comparison ends with a
// Calculator step over the branches' answers: `:evidence1: < :evidence3: ? "A" : "B"`
// for "earlier" (">" for "later"), `":evidence1:" == ":evidence3:" ? "yes" : "no"`
// for "the same": a small model copies names and evidence well but does not
// compare four-digit years (the shipped model, asking KnowledgeModel the whole
// question instead, was right on 41 of 72 such questions, near a coin toss), so
// the plan only has to pick the operator the question's word names.
package trainset

import (
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/tools/calc"
	"github.com/rewoo-agent/agent/world"
)

// Tool names the gold plans call.
const (
	SearchTool     = "LocalSearch"
	KnowledgeTool  = "KnowledgeModel"
	CalculatorTool = "Calculator"
)

// Step is one step of a gold plan and, for a KnowledgeModel step, its gold answer.
type Step struct {
	Plan   string // the Plan: line's text
	Tool   string
	Input  string
	Answer string // the gold output of a KnowledgeModel or Calculator step; "" for a search
}

// branch is one line of facts a plan follows: the name it starts from, and the
// evidence of its first and last answers.
type branch struct{ start, first, last string }

// GoldPlan is the plan a perfect planner writes for q, over the world w that holds
// q's entities.
func GoldPlan(w *world.World, q world.Question) ([]Step, error) {
	if len(q.Supporting) == 0 {
		return nil, fmt.Errorf("question %s: no supporting facts", q.ID)
	}
	var steps []Step
	var branches []branch
	gold := map[string]string{} // each KnowledgeModel step's answer, by its evidence name
	prev := ""                  // the object of the previous support, when the chain goes on
	for i, s := range q.Supporting {
		subject, ok := w.Entity(s.Subject)
		if !ok {
			return nil, fmt.Errorf("question %s: unknown entity %s", q.ID, s.Subject)
		}
		sub := s.Question
		next := i > 0 && s.Subject == prev
		if next {
			// The next hop: search what the last answer names, and ask about it.
			last := ref(len(steps) - 1)
			steps = append(steps, Step{Plan: "Search for the answer of " + last + ".", Tool: SearchTool, Input: last})
			if !strings.Contains(sub, subject.Name) {
				return nil, fmt.Errorf("question %s: sub-question %q does not name %s", q.ID, sub, subject.Name)
			}
			sub = strings.Replace(sub, subject.Name, last, 1)
		} else {
			steps = append(steps, Step{Plan: "Search for " + subject.Name + ".", Tool: SearchTool, Input: subject.Name})
		}
		search := ref(len(steps) - 1)
		steps = append(steps, Step{Plan: "Find out from the results: " + sub, Tool: KnowledgeTool,
			Input: sub + " Given " + search, Answer: s.Answer})
		answer := ref(len(steps) - 1)
		gold[answer] = s.Answer
		if next {
			branches[len(branches)-1].last = answer
		} else {
			branches = append(branches, branch{start: subject.Name, first: answer, last: answer})
		}
		prev = s.Object
	}
	switch len(branches) {
	case 1:
	case 2:
		calc, err := comparison(w, q, branches[0], branches[1], gold)
		if err != nil {
			return nil, fmt.Errorf("question %s: %w", q.ID, err)
		}
		steps = append(steps, calc)
	default:
		return nil, fmt.Errorf("question %s: %d branches of facts: want one, or two to compare", q.ID, len(branches))
	}
	if last := steps[len(steps)-1]; last.Answer != q.Answer {
		return nil, fmt.Errorf("question %s: the plan ends at %q, not the answer %q", q.ID, last.Answer, q.Answer)
	}
	return steps, nil
}

// comparison is the Calculator step that answers q from its two branches a and b:
// which of them is the same (yes or no), or which one's year comes earlier or
// later (world.Years), named as the question names it (the branches' starts) or by
// what the branches' first answers name. Its Answer is the Calculator's own value
// over the gold answers.
func comparison(w *world.World, q world.Question, a, b branch, gold map[string]string) (Step, error) {
	var input string
	if y, ok := w.Years(q); ok {
		na, nb := a.start, b.start
		if y.Bridged {
			na, nb = a.first, b.first
		}
		input = fmt.Sprintf(`%s %s %s ? "%s" : "%s"`, a.last, operators[y.Word], b.last, na, nb)
	} else if q.Answer == "yes" || q.Answer == "no" {
		input = fmt.Sprintf(`"%s" == "%s" ? "yes" : "no"`, a.last, b.last)
	} else {
		return Step{}, fmt.Errorf("a comparison of neither years nor sameness: %q", q.Question)
	}
	resolved := input
	for name, answer := range gold {
		resolved = strings.ReplaceAll(resolved, name, answer)
	}
	value, err := calc.Eval(resolved)
	if err != nil {
		return Step{}, err
	}
	return Step{Plan: "Compare the facts found.", Tool: CalculatorTool, Input: input, Answer: value}, nil
}

// operators are the Calculator's for each comparative.
var operators = map[string]string{"earlier": "<", "later": ">"}

// Text is the plan as the model writes it.
func Text(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "Plan: %s\n%s = %s[%s]\n", s.Plan, ref(i), s.Tool, s.Input)
	}
	fmt.Fprintf(&b, "Answer: %s", ref(len(steps)-1))
	return b.String()
}

func ref(i int) string { return fmt.Sprintf(":evidence%d:", i) }

// The settings the shipped model is trained and evaluated with.
const (
	SearchResults = 4    // LocalSearch results per call
	ContextLength = 1024 // the model's context in tokens
	AnswerTokens  = 32   // KnowledgeModel answer tokens at most
)
