package planparser

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// String prints the plan canonically: one "Plan:" line before each step that had
// one, each step as "NAME = Tool[input]" (names as written, wrappers and trailing
// comments dropped), then the Answer line. Parsing the result gives the same steps.
func (p *Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		if s.Plan != nil {
			fmt.Fprintf(&b, "Plan: %s\n", s.Plan.Text)
		}
		fmt.Fprintf(&b, "%s = %s[%s]\n", s.Name, s.Tool, s.Input)
	}
	if p.Answer != nil {
		b.WriteString(strings.TrimSpace("Answer: "+p.Answer.Text) + "\n")
	}
	return b.String()
}

type jsonPlan struct {
	Steps  []jsonStep  `json:"steps"`
	Answer *jsonAnswer `json:"answer"`
}

type jsonStep struct {
	Name  string   `json:"name"`
	Tool  string   `json:"tool"`
	Input string   `json:"input"`
	Deps  []string `json:"deps"`
	Line  int      `json:"line"`
}

type jsonAnswer struct {
	Refs []string `json:"refs"`
	Text string   `json:"text"`
}

// MarshalJSON writes {"steps":[{"name","tool","input","deps","line"}],
// "answer":{"refs","text"}} with names as written; answer is null without an
// Answer line.
func (p *Plan) MarshalJSON() ([]byte, error) {
	out := jsonPlan{Steps: make([]jsonStep, len(p.Steps))}
	for i, s := range p.Steps {
		deps := s.Deps
		if deps == nil {
			deps = []string{}
		}
		out.Steps[i] = jsonStep{Name: s.Name, Tool: s.Tool, Input: s.Input, Deps: deps, Line: s.Pos.Line}
	}
	if a := p.Answer; a != nil {
		out.Answer = &jsonAnswer{Refs: a.Cites(), Text: a.Text}
	}
	return json.Marshal(out)
}

// Cites returns the distinct evidence names the answer references, in order of
// first mention (never nil).
func (a *Answer) Cites() []string {
	names := []string{}
	seen := map[string]bool{}
	for _, r := range a.Refs {
		if !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
	}
	return names
}

// dotLabelMax bounds the input shown in a DOT node.
const dotLabelMax = 48

// WriteDOT writes the plan's DAG in Graphviz DOT: a box per step labelled with its
// name and call, an edge from each dependency to its dependant, and an answer node
// fed by the evidence the answer cites.
func (p *Plan) WriteDOT(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph plan {\n\trankdir=LR;\n\tnode [shape=box, fontname=\"Helvetica\"];\n")
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "\t%s [label=%s];\n", dotQuote(s.Name), dotQuote(s.Name+"\n"+s.Tool+"["+clip(s.Input, dotLabelMax)+"]"))
	}
	for _, s := range p.Steps {
		for _, d := range s.Deps {
			fmt.Fprintf(&b, "\t%s -> %s;\n", dotQuote(d), dotQuote(s.Name))
		}
	}
	if a := p.Answer; a != nil {
		fmt.Fprintf(&b, "\t\"answer\" [shape=ellipse, label=%s];\n", dotQuote("Answer: "+clip(a.Text, dotLabelMax)))
		for _, r := range a.Cites() {
			fmt.Fprintf(&b, "\t%s -> \"answer\";\n", dotQuote(r))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote makes s a quoted DOT ID; line breaks become centred "\n" breaks.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// clip shortens s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Summary is the plan in one line: its steps, its levels (the steps that may
// run at once) and what the answer cites, as "3 steps in 2 levels, answer
// cites #E1, #E3".
func (p *Plan) Summary() string {
	answer := "no answer line"
	if p.Answer != nil {
		answer = "answer cites " + strings.Join(p.Answer.Cites(), ", ")
		if len(p.Answer.Refs) == 0 {
			answer = "answer cites no evidence"
		}
	}
	return fmt.Sprintf("%d steps in %d levels, %s", len(p.Steps), len(p.Levels()), answer)
}
