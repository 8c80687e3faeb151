// Package trainset turns an offline world (package world) into training examples
// for a small reWOO model: planning examples (the exact prompt the planner builds
// and a gold plan derived from the question's supporting facts) and KnowledgeModel
// examples (the exact closed-context prompt tools/knowledge builds from the real
// LocalSearch output over the world's documents, and the gold short answer).
//
// The gold plan searches the entity a hop starts from, asks KnowledgeModel the
// hop's sub-question given the search results, and passes the answer on to the
// next hop's search through its evidence reference; a comparison asks
// KnowledgeModel the whole question over the branches' answers last.
package trainset

import (
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/world"
)

// Tool names the gold plans call.
const (
	SearchTool    = "LocalSearch"
	KnowledgeTool = "KnowledgeModel"
)

// Step is one step of a gold plan and, for a KnowledgeModel step, its gold answer.
type Step struct {
	Plan   string // the Plan: line's text
	Tool   string
	Input  string
	Answer string // the gold output of a KnowledgeModel step; "" for a search
}

// GoldPlan is the plan a perfect planner writes for q, over the world w that holds
// q's entities.
func GoldPlan(w *world.World, q world.Question) ([]Step, error) {
	if len(q.Supporting) == 0 {
		return nil, fmt.Errorf("question %s: no supporting facts", q.ID)
	}
	var steps []Step
	var answers []string // the evidence names of each branch's last answer
	prev := ""           // the object of the previous support, when the chain goes on
	for i, s := range q.Supporting {
		subject, ok := w.Entity(s.Subject)
		if !ok {
			return nil, fmt.Errorf("question %s: unknown entity %s", q.ID, s.Subject)
		}
		sub := s.Question
		if i > 0 && s.Subject == prev {
			// The next hop: search what the last answer names, and ask about it.
			last := ref(len(steps) - 1)
			steps = append(steps, Step{Plan: "Search for the answer of " + last + ".", Tool: SearchTool, Input: last})
			if !strings.Contains(sub, subject.Name) {
				return nil, fmt.Errorf("question %s: sub-question %q does not name %s", q.ID, sub, subject.Name)
			}
			sub = strings.Replace(sub, subject.Name, last, 1)
			answers = answers[:len(answers)-1]
		} else {
			steps = append(steps, Step{Plan: "Search for " + subject.Name + ".", Tool: SearchTool, Input: subject.Name})
		}
		search := ref(len(steps) - 1)
		steps = append(steps, Step{Plan: "Find out from the results: " + sub, Tool: KnowledgeTool,
			Input: sub + " Given " + search, Answer: s.Answer})
		answers = append(answers, ref(len(steps)-1))
		prev = s.Object
	}
	if len(answers) > 1 {
		steps = append(steps, Step{Plan: "Answer the question from the facts found.", Tool: KnowledgeTool,
			Input: q.Question + " Given " + join(answers), Answer: q.Answer})
	}
	if last := steps[len(steps)-1]; last.Answer != q.Answer {
		return nil, fmt.Errorf("question %s: the plan ends at %q, not the answer %q", q.ID, last.Answer, q.Answer)
	}
	return steps, nil
}

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

// join lists names as "a", "a and b", "a, b and c".
func join(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// The settings the shipped model is trained and evaluated with.
const (
	SearchResults = 4    // LocalSearch results per call
	ContextLength = 1024 // the model's context in tokens
	AnswerTokens  = 32   // KnowledgeModel answer tokens at most
)
