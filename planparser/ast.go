package planparser

import "fmt"

// Position is a place in the plan text. Line and Column count from 1; Column counts
// characters (runes), not bytes, a Unicode space as one and a zero-width one (a
// byte order mark) as none; Offset is the byte offset in the text as the parser
// reads it: CRLF and lone CR line ends turned into LF, Unicode spaces into
// spaces, zero-width ones dropped (see Normalize).
type Position struct {
	Offset int
	Line   int
	Column int
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Plan is a parsed reWOO plan: its steps in the order written and the Answer line.
type Plan struct {
	Steps  []*Step
	Answer *Answer // nil when the plan has no Answer line
}

// Step is one "NAME = Tool[input]" line.
type Step struct {
	Pos     Position // of the evidence name
	Name    string   // as written: ":evidence0:" or "#E1"
	Tool    string
	ToolPos Position
	// Input is the text between the call's brackets as written (references intact,
	// nested brackets and line breaks kept, line ends normalized to LF).
	Input    string
	InputPos Position
	Refs     []Ref    // references in Input, in order
	Deps     []string // distinct evidence names Input references, in order of first mention
	Wrapped  bool     // written as "= [Tool[input]]"
	Plan     *Note    // the Plan: line just before the step, nil if none
	Comment  string   // text after the closing bracket on the same line, trimmed
}

// Ref is one evidence reference such as ":evidence3:" or "#E2".
type Ref struct {
	Pos  Position
	Name string
}

// Note is a "Plan: ..." line.
type Note struct {
	Pos  Position
	Text string // after "Plan:", trimmed
}

// Answer is an "Answer: ..." or "Final answer: ..." line.
type Answer struct {
	Pos  Position
	Text string // after the keyword, trimmed
	Refs []Ref  // references in Text, in order
}

// Step returns the step called name, or nil.
func (p *Plan) Step(name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Levels groups the steps into the waves a resolver with unlimited concurrency runs:
// level 0 holds the steps without dependencies, level n the steps whose deepest
// dependency is on level n-1. References to names the plan does not define are
// ignored.
func (p *Plan) Levels() [][]*Step {
	level := make(map[string]int, len(p.Steps))
	var out [][]*Step
	for _, s := range p.Steps {
		l := 0
		for _, d := range s.Deps {
			if dl, ok := level[d]; ok && dl+1 > l {
				l = dl + 1
			}
		}
		level[s.Name] = l
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], s)
	}
	return out
}
