package constrain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoGBNF is wrapped when GBNF cannot write a grammar for the state and
// name asked for: a state within a line, a first name already defined, or no
// step left under the limits.
var ErrNoGBNF = errors.New("constrain: no GBNF grammar")

// maxRepeat bounds a GBNF repetition count: llama.cpp reads a count above 2000
// as unbounded and refuses a repetition of 2000 rules or more.
const maxRepeat = 1999

// GBNF writes plans of this grammar's tools and limits as a GBNF grammar
// (llama.cpp's grammar format, which vLLM's xgrammar reads too), for a server
// to constrain its own decoding with. s is g.Start() or the state after whole
// lines of plan (a prefix of gathered steps, whose names the new steps may
// cite). next is the name of the first new step, ":evidenceN:" or "#EN"; the
// steps after it are numbered on from it in its style, up to MaxSteps steps in
// all. With next "" (only from g.Start()) a plan's first step is any of
// :evidence0:, :evidence1:, #E0 or #E1.
//
// What the grammar admits planparser validates (but for the Unicode line
// ends, see charClasses): a step cites only the names given and those of the
// steps before it, calls a tool of the list, closes its brackets, and a line
// inside an input never starts like a plan line. GBNF has no memory of the
// names written, so the shapes are narrower than the Grammar's: the new names
// are numbered in order from next; prose lines (MaxProseLines) only before
// the plan and after its Answer line; no Plan: line just before the Answer
// line; references neither inside nested brackets nor at the start of an
// input's continuation line (but alone on its last); ":" and "#" as text only
// where they cannot start a reference. The bounds count elements rather than
// bytes: an input is at most maxRefs references with runs of MaxInputBytes
// characters or groups around them (a quarter as many inside each level of
// brackets), an Answer line the same with MaxLineBytes.
func (g *Grammar) GBNF(s State, next string) (string, error) {
	if !s.valid || s.mode != mHead || s.h.any || s.cr || s.u8need > 0 || s.answered {
		return "", fmt.Errorf("%w: the state is not at the start of a plan line", ErrNoGBNF)
	}
	var fams []family
	if next == "" {
		if s != g.Start() {
			return "", fmt.Errorf("%w: a plan after a prefix needs the name of its first new step", ErrNoGBNF)
		}
		for _, st := range []uint8{0, 1} {
			for _, first := range []int{0, 1} {
				fams = append(fams, family{style: st, first: first})
			}
		}
	} else {
		st, n, ok := parseName(next)
		if !ok {
			return "", fmt.Errorf("%w: %q is not an evidence name", ErrNoGBNF, next)
		}
		fams = []family{{style: st, first: n}}
	}
	left := g.lim.MaxSteps - int(s.steps)
	b := &gbnf{g: g, lim: g.lim, done: map[string]bool{}}
	var given []string
	for st := range uint8(2) {
		for v := 0; v <= maxName; v++ {
			if s.defined(st, v) {
				given = append(given, nameOf(st, v))
			}
		}
	}
	var roots []string
	for _, f := range fams {
		m := min(left, maxName+1-f.first)
		for k := 0; k < m; k++ {
			if s.defined(f.style, f.first+k) {
				m = k // the numbering runs into a defined name: stop before it
			}
		}
		if m < 1 {
			continue
		}
		roots = append(roots, b.family(f, m, given))
	}
	if len(roots) == 0 {
		return "", fmt.Errorf("%w: no step is left to write (%d of %d written, first new name %q)", ErrNoGBNF, s.steps, g.lim.MaxSteps, next)
	}
	b.common()
	var out strings.Builder
	out.WriteString("# The reWOO plan language (agent's planner/constrain).\n")
	fmt.Fprintf(&out, "root ::= pre (%s)\n", strings.Join(roots, " | "))
	for _, r := range b.rules {
		out.WriteString(r)
		out.WriteByte('\n')
	}
	return out.String(), nil
}

// family is a numbering of the new steps: a style and the first number.
type family struct {
	style uint8
	first int
}

func (f family) id() string { return fmt.Sprintf("%c%d", "ch"[f.style], f.first) }

func nameOf(style uint8, v int) string {
	if style == 1 {
		return "#E" + strconv.Itoa(v)
	}
	return ":evidence" + strconv.Itoa(v) + ":"
}

// parseName reads ":evidenceN:" or "#EN", N without leading zeros and at most
// maxName.
func parseName(s string) (style uint8, n int, ok bool) {
	var digits string
	switch {
	case strings.HasPrefix(s, ":evidence") && strings.HasSuffix(s, ":") && len(s) > len(":evidence:"):
		digits = s[len(":evidence") : len(s)-1]
	case strings.HasPrefix(s, "#E"):
		style, digits = 1, s[2:]
	default:
		return 0, 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n > maxName || strconv.Itoa(n) != digits {
		return 0, 0, false
	}
	return style, n, true
}

// gbnf collects the rules of one grammar.
type gbnf struct {
	g     *Grammar
	lim   Limits
	rules []string
	done  map[string]bool
}

func (b *gbnf) add(name, body string) string {
	if !b.done[name] {
		b.done[name] = true
		b.rules = append(b.rules, name+" ::= "+body)
	}
	return name
}

// Character classes are negated and leave out ASCII characters only:
// xgrammar before its fix of Unicode classes (mlc-ai/xgrammar#909, in the
// vLLM releases of 2026 and before) reads a code point above U+007F in a
// class as its low byte, so that [^\u2028] refuses "(" and [\u4e00-\u9fff]
// admits "a". Every class leaves out the control characters but the tab (line
// ends are written where they may stand) and some ASCII characters besides;
// it admits every character above U+007F, including the Unicode spaces, line
// ends and zero-width characters that planparser reads as a space, a line end
// or nothing (and that the Grammar keeps out).
//
// Inside inputs and answers ":" and "#" are text only where they cannot
// start a reference (":" not before "e", "#" not before "E"), and a "#EN"
// reference is never followed by a digit, which planparser would read as part
// of its name.
var charClasses = [][2]string{
	{"t-any", "[]:#"},           // text inside an input
	{"t-nd", "[]:#0123456789"},  // ... after "#EN"
	{"t-ne", "[]:#e"},           // ... after a lone ":"
	{"t-nbe", "[]:#E"},          // ... after a lone "#"
	{"t-head", "[]:#aAfFpP \t"}, // the first of an input's continuation line
	{"a-any", ":#"},             // text of an Answer line
	{"a-nd", ":#0123456789"},    // ... after "#EN"
	{"a-ne", ":#e"},             // ... after a lone ":"
	{"a-nbe", ":#E"},            // ... after a lone "#"
	{"line", ""},                // text of a Plan: or prose line
	{"p-head", ":#aAfFpP \t"},   // the first of a prose line
	{"cmt", "[]"},               // text after a call
}

// class writes the negated class of the control characters but the tab, and
// the characters of except.
func class(except string) string {
	var b strings.Builder
	b.WriteString(`[^\u0000-\u0008\u000A-\u001F\u007F`)
	for _, r := range except {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	b.WriteString("]")
	return b.String()
}

// common adds the rules every family uses.
func (b *gbnf) common() {
	lim := b.lim
	ws := fmt.Sprintf("[ \\t]{0,%d}", min(lim.MaxBlanks, maxRepeat))
	line := min(lim.MaxLineBytes, maxRepeat)
	for _, c := range charClasses {
		b.add(c[0], class(c[1]))
	}
	b.add("eol", `"\n" | "\r\n"`)
	b.add("ws", ws)
	// Prose lines planparser ignores (a preamble, blank lines) before the plan and
	// after its Answer line; they start with none of the characters that begin a
	// step, Plan: or Answer: line.
	b.add("pline", fmt.Sprintf("eol | p-head line{0,%d} eol", line-1))
	b.add("pre", fmt.Sprintf("pline{0,%d}", min(lim.MaxProseLines, maxRepeat)))
	b.add("epi", fmt.Sprintf(`"" | eol pline{0,%d}`, min(lim.MaxProseLines, maxRepeat)))
	b.add("gap", `"" | eol`)
	b.add("note", fmt.Sprintf(`ws [Pp] [Ll] [Aa] [Nn] ws ":" line{0,%d} eol`, line))
	b.add("notes", fmt.Sprintf("note{0,%d}", min(lim.MaxNotes, maxRepeat)))
	b.add("akw", `[Aa] [Nn] [Ss] [Ww] [Ee] [Rr] | [Ff] [Ii] [Nn] [Aa] [Ll] [ \t] ws [Aa] [Nn] [Ss] [Ww] [Ee] [Rr]`)
	var tools []string
	for _, t := range b.g.tools {
		tools = append(tools, strconv.Quote(t))
	}
	b.add("tool", strings.Join(tools, " | "))
	b.add("comment", fmt.Sprintf("cmt{0,%d}", line))
}

// family adds the rules of plans of m new steps numbered as f, whose steps may
// cite given, and returns the name of its rule.
func (b *gbnf) family(f family, m int, given []string) string {
	names := make([]string, m)
	for k := range m {
		names[k] = nameOf(f.style, f.first+k)
	}
	id := f.id()
	// seg-k is the rest of the plan from step k (0-based) on.
	for k := m - 1; k >= 0; k-- {
		refs := refSet{id: fmt.Sprintf("%s-%d", id, k), names: append(append([]string(nil), given...), names[:k]...)}
		after := refSet{id: fmt.Sprintf("%s-%d", id, k+1), names: append(append([]string(nil), given...), names[:k+1]...)}
		step := fmt.Sprintf(`ws %q ws "=" ws %s comment eol`, names[k], b.call(refs, b.lim.MaxWraps))
		var alts []string
		if k+1 < m {
			alts = append(alts, fmt.Sprintf("seg-%s-%d", id, k+1))
		}
		alts = append(alts, "gap "+b.answer(after)+" epi")
		if !b.g.opts.RequireAnswer {
			alts = append(alts, `""`)
		}
		b.add(fmt.Sprintf("seg-%s-%d", id, k), fmt.Sprintf("gap notes %s (%s)", step, strings.Join(alts, " | ")))
	}
	return fmt.Sprintf("seg-%s-0", id)
}

// refSet is the names a step's input or the Answer line may cite.
type refSet struct {
	id    string
	names []string
}

// refs adds the reference rules of r, colon names and "#EN" names apart; a
// rule is "" when r has no name of its kind.
func (b *gbnf) refs(r refSet) (colon, hash string) {
	var cs, hs []string
	for _, n := range r.names {
		if strings.HasPrefix(n, "#") {
			hs = append(hs, strconv.Quote(n))
		} else {
			cs = append(cs, strconv.Quote(n))
		}
	}
	if len(cs) > 0 {
		colon = b.add("rc-"+r.id, strings.Join(cs, " | "))
	}
	if len(hs) > 0 {
		hash = b.add("rh-"+r.id, strings.Join(hs, " | "))
	}
	return colon, hash
}

// call adds the rule of a call with up to wraps brackets around it.
func (b *gbnf) call(r refSet, wraps int) string {
	name := fmt.Sprintf("call-%s-%d", r.id, wraps)
	if b.done[name] {
		return name
	}
	body := fmt.Sprintf(`tool ws "[" %s "]"`, b.input(r))
	if wraps > 0 {
		body += fmt.Sprintf(` | "[" ws %s ws "]"`, b.call(r, wraps-1))
	}
	return b.add(name, body)
}

// maxRefs bounds the references of one input or Answer line.
const maxRefs = 16

// input adds the rule of a call's input citing r: runs of text, each of at
// most MaxInputBytes elements (characters and bracketed groups), between at
// most maxRefs references. The runs, and the groups (MaxDepth deep, a quarter
// as many elements at each depth, no references inside), are the same rules
// for every step, so that the grammar grows with the steps by a few rules
// each, not by copies of the text rules.
func (b *gbnf) input(r refSet) string {
	name := "in-" + r.id
	if b.done[name] {
		return name
	}
	rc, rh := b.refs(r)
	run, runND := b.runs()
	var refs []string
	if rc != "" {
		refs = append(refs, rc+" "+run)
	}
	if rh != "" {
		refs = append(refs, rh+" "+runND)
	}
	body := run
	if len(refs) > 0 {
		body += fmt.Sprintf(" (%s){0,%d}", strings.Join(refs, " | "), maxRefs)
	}
	// What may stand just before the closing "]": a lone ":" or "#" (a "#EN"
	// reference ends its run), then a line end with a reference alone on the
	// next line.
	tail := `eol ws`
	if all := joinNonEmpty(rc, rh); all != "" {
		tail += " (" + all + `)?`
	}
	return b.add(name, body+` ":"? (`+tail+`)?`)
}

// runs adds the rules of the text between references, run and (for after a
// "#EN" reference) runND, which does not start with a digit, and the groups.
func (b *gbnf) runs() (run, runND string) {
	if b.done["run"] {
		return "run", "run-nd"
	}
	n := max(1, min(b.lim.MaxInputBytes, maxRepeat))
	// A line end inside an input: the next line must not start like a step,
	// Plan: or Answer: line (planparser would take the input for unclosed).
	b.add("nl", `eol ws (t-head | ":" t-ne | "#" t-nbe)`)
	el := func(depth int) string {
		alts := `t-any | ":" (t-ne | nl) | "#" (t-nbe | nl) | nl`
		if depth < b.lim.MaxDepth {
			alts += fmt.Sprintf(" | grp-%d", depth+1)
		}
		return alts
	}
	for d := b.lim.MaxDepth; d >= 2; d-- {
		gel := b.add(fmt.Sprintf("gel-%d", d), el(d))
		b.add(fmt.Sprintf("grp-%d", d), fmt.Sprintf(`"[" %s{0,%d} ":"? "]"`, gel, max(1, min(n>>(2*(d-1)), maxRepeat))))
	}
	b.add("el", el(1))
	nd := `t-nd | ":" (t-ne | nl) | "#" (t-nbe | nl) | nl`
	if b.lim.MaxDepth > 1 {
		nd += " | grp-2"
	}
	b.add("el-nd", nd)
	b.add("run", fmt.Sprintf("el{0,%d}", n))
	b.add("run-nd", fmt.Sprintf(`"" | el-nd el{0,%d}`, n-1))
	return "run", "run-nd"
}

// answer adds the rule of an Answer line (without its line end) citing r.
func (b *gbnf) answer(r refSet) string {
	rc, rh := b.refs(r)
	if !b.done["arun"] {
		n := min(b.lim.MaxLineBytes, maxRepeat)
		b.add("ael", `a-any | ":" a-ne | "#" a-nbe`)
		b.add("arun", fmt.Sprintf("ael{0,%d}", n))
		b.add("arun-nd", fmt.Sprintf(`"" | (a-nd | ":" a-ne | "#" a-nbe) ael{0,%d}`, n-1))
	}
	var refs []string
	if rc != "" {
		refs = append(refs, rc+" arun")
	}
	if rh != "" {
		refs = append(refs, rh+" arun-nd")
	}
	body := `ws akw ws ":" arun`
	if len(refs) > 0 {
		body += fmt.Sprintf(" (%s){0,%d}", strings.Join(refs, " | "), maxRefs)
	}
	return b.add("ans-"+r.id, body+` (":" | "#")?`)
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " | " + b
}
