package planparser

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options tune parsing.
type Options struct {
	// Tools names the tools that exist. A call of any other tool is a diagnostic. With
	// nil, tool names are not checked.
	Tools []string
}

// Parse reads a whole plan. The error, when not nil, is Diagnostics: every problem
// found, sorted. The plan holds every step that parsed, even when there are
// diagnostics.
func Parse(src string, opts Options) (*Plan, error) {
	s := NewStream(opts)
	s.Write(src)
	return s.Close()
}

// The framer classifies whole lines before participle parses them.
var (
	stepStartRE = regexp.MustCompile(`^[ \t]*(?:` + refPattern + `)[ \t]*(?:=|\[|[A-Za-z_][\w.\-]*[ \t]*\[)`)
	refAtRE     = regexp.MustCompile(`^[ \t]*(?:` + refPattern + `)`)
	answerRE    = regexp.MustCompile(`^[ \t]*(?i:(?:final[ \t]+)?answer[ \t]*:)`)
	noteRE      = regexp.MustCompile(`^[ \t]*(?i:plan[ \t]*:)`)
)

// Stream parses a plan while it is being written. Write feeds text in chunks of any
// size and returns each step the moment its line is complete (its brackets balanced
// and its line ended) and it is valid: its tool exists and every evidence it
// references was returned earlier. Steps are returned in plan order, so a resolver
// can start them while the model is still writing. Close ends the text and returns
// the plan and every diagnostic.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	opts  Options
	known map[string]bool // nil when tools are not checked
	tools []string        // sorted, for suggestions

	buf     []byte   // text not yet consumed; buf[0] starts a line
	bufPos  Position // position of buf[0]
	scan    int      // offset in buf of the next line to look at
	scanPos Position // position of buf[scan]
	cr      bool     // the last chunk ended in CR
	pend    []byte   // the start of a character the last chunk cut
	open    *openStep

	plan    Plan
	diags   Diagnostics
	sawStep bool
	defined map[string]*Step
	broken  map[string]bool // names of steps that did not parse
	emitted map[string]bool
	forward []Ref // references to names not defined when read
	note    *Note
	closed  bool
}

// maxNesting bounds how deep brackets may nest in an input. Real plans nest two or
// three deep; the grammar recurses per level, so a bound keeps hostile text from
// exhausting the stack.
const maxNesting = 100

// openStep is a step whose brackets are still open at the end of a line.
type openStep struct {
	depth int       // unclosed "[" count
	first Position  // the outermost unclosed "["
	deep  *Position // the first "[" nested past maxNesting, if any
}

// NewStream returns a stream ready for Write.
func NewStream(opts Options) *Stream {
	s := &Stream{
		opts:    opts,
		bufPos:  Position{Line: 1, Column: 1},
		scanPos: Position{Line: 1, Column: 1},
		defined: map[string]*Step{},
		broken:  map[string]bool{},
		emitted: map[string]bool{},
	}
	if opts.Tools != nil {
		s.known = make(map[string]bool, len(opts.Tools))
		for _, t := range opts.Tools {
			s.known[t] = true
		}
		s.tools = slices.Clone(opts.Tools)
		slices.Sort(s.tools)
	}
	return s
}

// Write adds the next chunk of plan text and returns the steps it completed. After
// Close it returns nil. A chunk may end inside a character; the rest comes with
// the next.
func (s *Stream) Write(chunk string) []*Step {
	if s.closed {
		return nil
	}
	s.feed(chunk)
	var out []*Step
	for {
		nl := slices.Index(s.buf[s.scan:], '\n')
		if nl < 0 {
			break
		}
		out = s.line(nl, out)
	}
	return out
}

// feed appends chunk to buf as the parser reads it (see Normalize), keeping a
// character the chunk cuts for the next.
func (s *Stream) feed(chunk string) {
	data := chunk
	if len(s.pend) > 0 {
		data = string(s.pend) + chunk
		s.pend = s.pend[:0]
	}
	for i := 0; i < len(data); {
		c, n := data[i], 1
		if c >= utf8.RuneSelf {
			if !utf8.FullRuneInString(data[i:]) {
				s.pend = append(s.pend, data[i:]...)
				break
			}
			var r rune
			r, n = utf8.DecodeRuneInString(data[i:])
			switch plain := plainRune(r); {
			case r == utf8.RuneError && n == 1:
				// An invalid byte reads as U+FFFD, so that dropping a zero-width
				// character between invalid bytes never joins them into a character.
				s.putBytes("\uFFFD")
			case plain < 0: // zero width: nothing to read
			case plain == ' ' || plain == '\n':
				s.putByte(byte(plain))
			default:
				s.putBytes(data[i : i+n])
			}
		} else {
			s.putByte(c)
		}
		i += n
	}
}

// flush ends the text fed: a pending CR becomes a line end, and the bytes of a
// character that never completed are kept as they are.
func (s *Stream) flush() {
	if len(s.pend) > 0 {
		s.putBytes(string(s.pend))
		s.pend = nil
	}
	if s.cr {
		s.cr = false
		s.buf = append(s.buf, '\n')
	}
}

// Normalize returns src as the parser reads it, the text Position offsets count
// in: CRLF, lone CR and Unicode line ends (U+2028, U+2029, U+0085) are LF,
// Unicode spaces (category Zs, such as a no-break space) are spaces, and
// zero-width no-break spaces (byte order marks) and zero-width spaces are gone,
// and an invalid byte is U+FFFD (a character cut at the end stays as it is).
func Normalize(src string) string {
	var s Stream
	s.feed(src)
	s.flush()
	return string(s.buf)
}

// plainRune is what a character of the plan reads as before lexing: a Unicode
// space (a no-break space, an em space, an ideographic space: category Zs) is a
// space, a Unicode line end (the line and paragraph separators, next line) is a
// line end, a zero-width no-break space (U+FEFF, a byte order mark) or a
// zero-width space is nothing (-1), any other character itself. Models and
// editors put them in where a space, a line end or nothing was meant, and the
// grammar reads ASCII.
func plainRune(r rune) rune {
	switch {
	case r == '\uFEFF' || r == '\u200B':
		return -1
	case r == '\u2028' || r == '\u2029' || r == '\u0085':
		return '\n'
	case r != ' ' && unicode.Is(unicode.Zs, r):
		return ' '
	}
	return r
}

// putByte appends an ASCII byte of the text to buf, turning CRLF and lone CR
// line ends into LF.
func (s *Stream) putByte(c byte) {
	if s.cr {
		s.cr = false
		s.buf = append(s.buf, '\n')
		if c == '\n' {
			return
		}
	}
	if c == '\r' {
		s.cr = true
		return
	}
	s.buf = append(s.buf, c)
}

// putBytes appends a character of several bytes (or an invalid byte) to buf.
func (s *Stream) putBytes(b string) {
	if s.cr {
		s.cr = false
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, b...)
}

// Answer returns the Answer line read so far, or nil.
func (s *Stream) Answer() *Answer { return s.plan.Answer }

// Close ends the text and returns the plan and, when there are problems,
// Diagnostics. Further calls return the same.
func (s *Stream) Close() (*Plan, error) {
	if !s.closed {
		s.flush()
		s.Write("")
		if s.scan < len(s.buf) {
			s.line(len(s.buf)-s.scan, nil)
		}
		if s.open != nil {
			s.unclosed()
		}
		s.finish()
		s.closed = true
	}
	if len(s.diags) > 0 {
		return &s.plan, s.diags
	}
	return &s.plan, nil
}

// line handles the line of n bytes at buf[s.scan:], followed by LF or the end of
// the text.
func (s *Stream) line(n int, out []*Step) []*Step {
	text := string(s.buf[s.scan : s.scan+n])
	if s.open != nil && (stepStartRE.MatchString(text) || answerRE.MatchString(text) || noteRE.MatchString(text)) {
		// A new plan line while brackets are open: the model forgot a "]".
		s.unclosed()
	}
	if s.open != nil {
		if j := s.scanBrackets(text, 0); j >= 0 {
			return s.closeStep(text, j, out)
		}
		s.nextLine(n, false)
		return out
	}
	switch {
	case stepStartRE.MatchString(text):
		s.sawStep = true
		s.open = &openStep{}
		from := len(refAtRE.FindString(text))
		if j := s.scanBrackets(text, from); j >= 0 || s.open.depth == 0 {
			if j < 0 {
				j = len(text) - 1
			}
			return s.closeStep(text, j, out)
		}
		s.nextLine(n, false)
	case answerRE.MatchString(text), noteRE.MatchString(text):
		s.prose(text)
		s.nextLine(n, true)
	default:
		s.nextLine(n, true)
	}
	return out
}

// scanBrackets continues the open step's bracket count over text[from:], a line
// starting at s.scanPos. It returns the index of the "]" that balances the step, or
// -1 when the line ends with brackets still open.
func (s *Stream) scanBrackets(text string, from int) int {
	o := s.open
	for i := from; i < len(text); i++ {
		switch text[i] {
		case '[':
			o.depth++
			switch {
			case o.depth == 1:
				o.first = s.posIn(text, i)
			case o.depth > maxNesting && o.deep == nil:
				p := s.posIn(text, i)
				o.deep = &p
			}
		case ']':
			if o.depth <= 1 {
				return i
			}
			o.depth--
		}
	}
	return -1
}

// posIn is the position of byte i of text, a line starting at s.scanPos.
func (s *Stream) posIn(text string, i int) Position {
	return Position{Offset: s.scanPos.Offset + i, Line: s.scanPos.Line, Column: utf8.RuneCountInString(text[:i]) + 1}
}

// closeStep parses the step ending at byte j of the current line text, then
// consumes the line.
func (s *Stream) closeStep(text string, j int, out []*Step) []*Step {
	src := string(s.buf[:s.scan+j+1])
	base := s.bufPos
	rest := text[j+1:]
	restPos := s.posIn(text, j+1)
	deep := s.open.deep
	s.open = nil
	s.nextLine(len(text), true)
	if deep != nil {
		s.diags = append(s.diags, Diagnostic{*deep, fmt.Sprintf("brackets nested more than %d deep", maxNesting)})
		s.markBroken(src)
		return out
	}
	rec, d := parseRecord(src, base)
	if d != nil {
		s.diags = append(s.diags, *d)
		s.markBroken(src)
		return out
	}
	st := rec.Step.toStep(src, base)
	if trimmed := strings.TrimSpace(rest); trimmed != "" {
		if strings.ContainsAny(trimmed, "[]") {
			lead := len(rest) - len(strings.TrimLeft(rest, " \t"))
			p := restPos
			p.Offset += lead
			p.Column += utf8.RuneCountInString(rest[:lead])
			s.diags = append(s.diags, Diagnostic{p, fmt.Sprintf("unexpected %s after the step", quote(trimmed))})
			return out
		}
		st.Comment = trimmed
	}
	if s.add(st) {
		out = append(out, st)
	}
	return out
}

// add records a parsed step and reports whether it can run now.
func (s *Stream) add(st *Step) bool {
	st.Plan, s.note = s.note, nil
	if prev, dup := s.defined[st.Name]; dup {
		s.diags = append(s.diags, Diagnostic{st.Pos, fmt.Sprintf("duplicate evidence name %s (first defined at %s)", st.Name, prev.Pos)})
		return false
	}
	s.defined[st.Name] = st
	s.plan.Steps = append(s.plan.Steps, st)
	ok := true
	if s.known != nil && !s.known[st.Tool] {
		s.diags = append(s.diags, Diagnostic{st.ToolPos, unknownTool(st.Tool, s.tools)})
		ok = false
	}
	for _, r := range st.Refs {
		switch {
		case r.Name == st.Name:
			s.diags = append(s.diags, Diagnostic{r.Pos, fmt.Sprintf("%s references itself", st.Name)})
			ok = false
		case s.defined[r.Name] == nil:
			if !s.broken[r.Name] {
				s.forward = append(s.forward, r)
			}
			ok = false
		case !s.emitted[r.Name]:
			ok = false // the dependency has its own diagnostic
		}
	}
	if ok {
		s.emitted[st.Name] = true
	}
	return ok
}

// prose parses a Plan: or Answer: line.
func (s *Stream) prose(text string) {
	rec, d := parseRecord(text, s.scanPos)
	if d != nil {
		s.diags = append(s.diags, *d)
		return
	}
	body, refs := rec.Prose.text(s.scanPos)
	pos := shift(s.scanPos, rec.Prose.Pos)
	if !rec.Prose.isAnswer() {
		if s.note != nil {
			s.note.Text = strings.TrimSpace(s.note.Text + " " + body)
			return
		}
		s.note = &Note{Pos: pos, Text: body}
		return
	}
	if s.plan.Answer != nil {
		s.diags = append(s.diags, Diagnostic{pos, fmt.Sprintf("second answer line (the first is at %s)", s.plan.Answer.Pos)})
		return
	}
	s.plan.Answer = &Answer{Pos: pos, Text: body, Refs: refs}
}

// unclosed reports the open step's outermost unclosed bracket and drops the step.
func (s *Stream) unclosed() {
	s.diags = append(s.diags, Diagnostic{s.open.first, `unclosed "[" (no matching "]")`})
	s.markBroken(string(s.buf[:s.scan]))
	s.open = nil
	s.buf = s.buf[s.scan:]
	s.bufPos = s.scanPos
	s.scan = 0
}

// markBroken remembers the name of a step that did not parse (src starts with its
// line), so references to it do not add diagnostics of their own.
func (s *Stream) markBroken(src string) {
	if name := strings.TrimSpace(refAtRE.FindString(src)); name != "" {
		s.broken[name] = true
	}
}

// nextLine moves the scan past the current line of n bytes and its LF; consume
// also drops everything up to there from the buffer.
func (s *Stream) nextLine(n int, consume bool) {
	next := min(s.scan+n+1, len(s.buf))
	s.scanPos = Position{Offset: s.scanPos.Offset + next - s.scan, Line: s.scanPos.Line + 1, Column: 1}
	s.scan = next
	if consume {
		s.buf = s.buf[next:]
		s.bufPos = s.scanPos
		s.scan = 0
	}
}

// finish runs the checks that need the whole plan.
func (s *Stream) finish() {
	for _, r := range s.forward {
		if s.broken[r.Name] {
			continue
		}
		if d := s.defined[r.Name]; d != nil {
			s.diags = append(s.diags, Diagnostic{r.Pos, fmt.Sprintf("reference to %s before it is defined (at %s)", r.Name, d.Pos)})
		} else {
			s.diags = append(s.diags, Diagnostic{r.Pos, fmt.Sprintf("reference to undefined evidence %s", r.Name)})
		}
	}
	if a := s.plan.Answer; a != nil {
		for _, r := range a.Refs {
			if s.defined[r.Name] == nil && !s.broken[r.Name] {
				s.diags = append(s.diags, Diagnostic{r.Pos, fmt.Sprintf("answer cites undefined evidence %s", r.Name)})
			}
		}
	}
	if !s.sawStep {
		s.diags = append(s.diags, Diagnostic{Position{Line: 1, Column: 1}, "plan has no steps"})
	}
	s.diags.sort()
}
