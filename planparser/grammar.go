package planparser

import (
	"errors"
	"regexp"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// refPattern is a whole evidence reference in either naming style. The digits are
// greedy, so ":evidence1:" never matches inside ":evidence10:" and "#E1" never
// inside "#E10".
const refPattern = `:evidence\d+:|#E\d+`

var refRE = regexp.MustCompile(refPattern)

// The lexer has three states: Root for the structure of a step line, Input between
// a call's brackets (nested brackets push and pop it, so "]" inside balanced
// brackets stays part of the input), and Prose for the text of Plan: and Answer:
// lines. References are tokens in every state.
var planLexer = lexer.MustStateful(lexer.Rules{
	"Root": {
		{Name: "Space", Pattern: `\s+`},
		{Name: "AnswerKw", Pattern: `(?i)(?:final[ \t]+)?answer[ \t]*:`, Action: lexer.Push("Prose")},
		{Name: "PlanKw", Pattern: `(?i)plan[ \t]*:`, Action: lexer.Push("Prose")},
		{Name: "Ref", Pattern: refPattern},
		{Name: "Call", Pattern: `[A-Za-z_][\w.\-]*[ \t]*\[`, Action: lexer.Push("Input")},
		{Name: "Punct", Pattern: `[=\[\]]`},
		{Name: "Other", Pattern: `[^\s\[\]=]+`},
	},
	"Input": {
		{Name: "Ref", Pattern: refPattern},
		{Name: "Open", Pattern: `\[`, Action: lexer.Push("Input")},
		{Name: "Close", Pattern: `\]`, Action: lexer.Pop()},
		{Name: "Text", Pattern: `[^\[\]:#]+|[:#]`},
	},
	"Prose": {
		{Name: "Ref", Pattern: refPattern},
		{Name: "Words", Pattern: `[^:#]+|[:#]`},
	},
})

// record is one plan line as the framer cut it: a step (possibly spanning several
// lines until its brackets balance), an Answer line or a Plan line.
type record struct {
	Step  *stepNode  `parser:"  @@"`
	Prose *proseNode `parser:"| @@"`
}

type stepNode struct {
	Pos  lexer.Position
	Name string    `parser:"@Ref '='"`
	Call *callNode `parser:"@@"`
}

type callNode struct {
	Pos     lexer.Position
	Wrapped *callNode  `parser:"  '[' @@ ']'"`
	Tool    string     `parser:"| @Call"`
	Input   *inputNode `parser:"  @@ ']'"`
}

type inputNode struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Parts  []*partNode `parser:"@@*"`
}

type partNode struct {
	Ref    *refNode   `parser:"  @@"`
	Text   string     `parser:"| @Text"`
	Nested *inputNode `parser:"| '[' @@ ']'"`
}

type refNode struct {
	Pos  lexer.Position
	Name string `parser:"@Ref"`
}

type proseNode struct {
	Pos     lexer.Position
	Keyword string       `parser:"@(AnswerKw | PlanKw)"`
	Parts   []*prosePart `parser:"@@*"`
}

func (n *proseNode) isAnswer() bool { return strings.Contains(strings.ToLower(n.Keyword), "answer") }

type prosePart struct {
	Ref  *refNode `parser:"  @@"`
	Text string   `parser:"| @Words"`
}

var recordParser = participle.MustBuild[record](
	participle.Lexer(planLexer),
	participle.Elide("Space"),
)

// parseRecord parses one framed record whose first character is at base (a line
// start). Positions in the result are positions in the whole plan.
func parseRecord(src string, base Position) (*record, *Diagnostic) {
	rec, err := recordParser.ParseString("", src)
	if err != nil {
		var perr participle.Error
		if errors.As(err, &perr) {
			return nil, &Diagnostic{Pos: shift(base, perr.Position()), Msg: syntaxMessage(perr.Message())}
		}
		return nil, &Diagnostic{Pos: base, Msg: err.Error()}
	}
	return rec, nil
}

// shift turns a position inside a record starting at base into a plan position.
func shift(base Position, p lexer.Position) Position {
	col := p.Column
	if p.Line == 1 {
		col += base.Column - 1
	}
	return Position{Offset: base.Offset + p.Offset, Line: base.Line + p.Line - 1, Column: col}
}

// toStep converts a parsed step record into the public AST.
func (n *stepNode) toStep(src string, base Position) *Step {
	s := &Step{Pos: shift(base, n.Pos), Name: n.Name}
	c := n.Call
	for c.Wrapped != nil {
		s.Wrapped = true
		c = c.Wrapped
	}
	s.Tool = strings.TrimRight(strings.TrimSuffix(c.Tool, "["), " \t")
	s.ToolPos = shift(base, c.Pos)
	s.Input = src[c.Input.Pos.Offset:c.Input.EndPos.Offset]
	s.InputPos = shift(base, c.Input.Pos)
	c.Input.refs(base, &s.Refs)
	seen := map[string]bool{}
	for _, r := range s.Refs {
		if !seen[r.Name] {
			seen[r.Name] = true
			s.Deps = append(s.Deps, r.Name)
		}
	}
	return s
}

func (n *inputNode) refs(base Position, out *[]Ref) {
	for _, p := range n.Parts {
		switch {
		case p.Ref != nil:
			*out = append(*out, Ref{Pos: shift(base, p.Ref.Pos), Name: p.Ref.Name})
		case p.Nested != nil:
			p.Nested.refs(base, out)
		}
	}
}

// text returns the prose as written, trimmed, and its references.
func (n *proseNode) text(base Position) (string, []Ref) {
	var b strings.Builder
	var refs []Ref
	for _, p := range n.Parts {
		if p.Ref != nil {
			b.WriteString(p.Ref.Name)
			refs = append(refs, Ref{Pos: shift(base, p.Ref.Pos), Name: p.Ref.Name})
			continue
		}
		b.WriteString(p.Text)
	}
	return strings.TrimSpace(b.String()), refs
}

// FindRefs returns the byte spans [start, end) of every whole evidence reference in
// s, in order. It matches exactly what the grammar reads as a reference.
func FindRefs(s string) [][2]int {
	idx := refRE.FindAllStringIndex(s, -1)
	out := make([][2]int, len(idx))
	for i, m := range idx {
		out[i] = [2]int{m[0], m[1]}
	}
	return out
}

// syntaxMessage rewords participle's message in the plan's own terms.
func syntaxMessage(msg string) string {
	return strings.NewReplacer(`"=" CallNode`, `"= Tool[input]"`, "CallNode", "Tool[input]").Replace(msg)
}
