package constrain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"unicode"
)

// Limits bound a plan, so that the language is finite and every prefix can be
// completed in a known number of bytes. Zero fields take the defaults.
type Limits struct {
	MaxSteps      int // steps in a plan (default 12, at most 100)
	MaxInputBytes int // bytes inside one call's brackets (default 512)
	MaxLineBytes  int // bytes of a Plan:, Answer:, prose line or comment (default 256)
	MaxProseLines int // lines that are neither steps, Plan: nor Answer: (default 8)
	MaxNotes      int // Plan: lines in a row before a step (default 2)
	MaxDepth      int // brackets open inside an input, the call's own included (default 8)
	MaxWraps      int // "[" around a call, as in "= [Tool[x]]" (default 2)
	MaxBlanks     int // spaces and tabs in a row where the structure allows them (default 8)
}

// DefaultLimits are the limits a zero Limits means.
var DefaultLimits = Limits{
	MaxSteps: 12, MaxInputBytes: 512, MaxLineBytes: 256, MaxProseLines: 8,
	MaxNotes: 2, MaxDepth: 8, MaxWraps: 2, MaxBlanks: 8,
}

// Options say which plans a Grammar admits.
type Options struct {
	// Tools are the tools a step may call, in the order the prompt lists them; the
	// first is the one a forced step calls.
	Tools []string
	// RequireAnswer makes the Answer line part of every complete plan. planparser
	// accepts plans without one; the planner wants it.
	RequireAnswer bool
	Limits        Limits
}

// ErrOptions is wrapped by every error about Options.
var ErrOptions = errors.New("constrain: bad options")

// toolRE is what planparser's lexer reads as a tool name before "[".
var toolRE = regexp.MustCompile(`^[A-Za-z_][\w.\-]*$`)

// maxToolName bounds a tool's name in bytes.
const maxToolName = 64

// ToolName reports whether name can be a tool of Options.Tools: what
// planparser's lexer reads as a tool name, at most 64 bytes.
func ToolName(name string) bool { return len(name) <= maxToolName && toolRE.MatchString(name) }

// Grammar is the compiled plan language. It is immutable and safe for concurrent
// use; the mutable part of a decoding is a State.
type Grammar struct {
	opts  Options
	lim   Limits
	tools []string
	nodes []toolNode // trie of tool names; nodes[0] is the root
	bmax  int
}

// toolNode is a node of the tool trie.
type toolNode struct {
	kids []toolKid
	tool int  // index of the tool that ends here, or -1
	fin  byte // next byte towards the first listed tool below this node
}

type toolKid struct {
	b    byte
	node uint16
}

// New compiles the plan language for opts.
func New(opts Options) (*Grammar, error) {
	lim := opts.Limits
	def := DefaultLimits
	for _, f := range []struct {
		v    *int
		d    int
		max  int
		name string
	}{
		{&lim.MaxSteps, def.MaxSteps, 100, "MaxSteps"},
		{&lim.MaxInputBytes, def.MaxInputBytes, 1 << 15, "MaxInputBytes"},
		{&lim.MaxLineBytes, def.MaxLineBytes, 1 << 15, "MaxLineBytes"},
		{&lim.MaxProseLines, def.MaxProseLines, 200, "MaxProseLines"},
		{&lim.MaxNotes, def.MaxNotes, 200, "MaxNotes"},
		{&lim.MaxDepth, def.MaxDepth, 100, "MaxDepth"},
		{&lim.MaxWraps, def.MaxWraps, 100, "MaxWraps"},
		{&lim.MaxBlanks, def.MaxBlanks, 200, "MaxBlanks"},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.d
		case *f.v < 0 || *f.v > f.max:
			return nil, fmt.Errorf("%w: %s %d outside [1, %d]", ErrOptions, f.name, *f.v, f.max)
		}
	}
	if len(opts.Tools) == 0 {
		return nil, fmt.Errorf("%w: no tools", ErrOptions)
	}
	g := &Grammar{opts: opts, lim: lim, tools: slices.Clone(opts.Tools), nodes: []toolNode{{tool: -1}}}
	maxTool := 0
	for i, t := range g.tools {
		if !ToolName(t) {
			return nil, fmt.Errorf("%w: tool name %q is not a plan identifier of at most %d bytes", ErrOptions, t, maxToolName)
		}
		maxTool = max(maxTool, len(t))
		n := 0
		for j := 0; j < len(t); j++ {
			next := -1
			for _, k := range g.nodes[n].kids {
				if k.b == t[j] {
					next = int(k.node)
				}
			}
			if next < 0 {
				next = len(g.nodes)
				g.nodes = append(g.nodes, toolNode{tool: -1, fin: 0})
				g.nodes[n].kids = append(g.nodes[n].kids, toolKid{t[j], uint16(next)})
			}
			if g.nodes[n].fin == 0 {
				g.nodes[n].fin = t[j] // the first listed tool through n
			}
			n = next
		}
		if g.nodes[n].tool >= 0 {
			return nil, fmt.Errorf("%w: tool %q listed twice", ErrOptions, t)
		}
		g.nodes[n].tool = i
	}
	// The longest completion: a pending UTF-8 character and reference digits, the
	// open brackets, the end of the line, a whole step when there is none yet (or the
	// rest of a keyword), and the Answer line citing a step.
	g.bmax = 3 + 2 + lim.MaxDepth + lim.MaxWraps + 1 + (len(":evidence127: = []\n") + maxTool) +
		len("final answer:") + len("Answer: :evidence127:") + 8
	return g, nil
}

// Limits returns the limits in force, defaults filled in.
func (g *Grammar) Limits() Limits { return g.lim }

// MaxFinish bounds the length in bytes of Finish over every state: a generation
// that keeps that many tokens in reserve can always complete its plan.
func (g *Grammar) MaxFinish() int { return g.bmax }

// Evidence names are ":evidenceN:" (style 0) or "#EN" (style 1) with N in
// [0, maxName], written without leading zeros.
const maxName = 127

const evidence = "evidence"

// number is the digits of an evidence name being read.
type number struct {
	num uint16
	nd  uint8 // digits read
	bad bool  // a leading zero or above maxName: never a name this grammar defines
}

func (n *number) add(d byte) {
	if n.nd < 255 {
		n.nd++
	}
	if n.bad {
		return
	}
	if n.nd > 1 && n.num == 0 {
		n.bad = true
		return
	}
	n.num = n.num*10 + uint16(d-'0')
	if n.num > maxName {
		n.bad = true
	}
}

// extensions calls f with every name number whose decimal form starts with n's
// digits (n itself included), until f returns true.
func (n number) extensions(f func(int) bool) bool {
	if n.bad {
		return false
	}
	if n.nd == 0 {
		for v := 0; v <= maxName; v++ {
			if f(v) {
				return true
			}
		}
		return false
	}
	v := int(n.num)
	if f(v) {
		return true
	}
	if v == 0 {
		return false
	}
	for lo, hi := v*10, v*10+9; lo <= maxName; lo, hi = lo*10, hi*10+9 {
		for x := lo; x <= min(hi, maxName); x++ {
			if f(x) {
				return true
			}
		}
	}
	return false
}

// digitsTo returns the next digit that leads from n towards the smallest number
// accepted by ok, or -1 when n itself is accepted or nothing is reachable.
func (n number) digitsTo(ok func(int) bool) int {
	if n.nd > 0 && !n.bad && ok(int(n.num)) {
		return -1
	}
	best := -1
	n.extensions(func(v int) bool {
		if ok(v) {
			best = v
			return true
		}
		return false
	})
	if best < 0 {
		return -1
	}
	s := fmt.Sprint(best)
	return int(s[n.nd] - '0')
}

// Line kinds as the first bytes of a line decide them (planparser's framer).
const (
	hIndent     uint8 = iota // blanks at the start of the line
	hColon                   // ":" and h.k letters of "evidence"
	hColonNum                // ":evidence" and digits
	hHash                    // "#"
	hHashE                   // "#E" and digits
	hAfterRef                // a whole reference, then blanks
	hIdent                   // a reference, blanks, a word
	hIdentBlank              // ... and blanks after it
	hWord                    // h.k letters of keywords[h.kw]
	hWordBlank               // a whole keyword, then blanks
)

const (
	kwAnswer uint8 = iota
	kwFinal
	kwPlan
)

var keywords = [...]string{"answer", "final", "plan"}

// What a byte makes of a line head.
const (
	oMore   = iota // still undecided
	oProse         // a line planparser ignores
	oStep          // reference, blanks, "=": a step line
	oBroken        // a step start planparser cannot parse
	oAnswer        // an Answer: or Final answer: keyword
	oNote          // a Plan: keyword
	oReject        // too many blanks
)

// head reads the start of a line.
type head struct {
	phase, k, kw uint8
	style        uint8 // of the reference read
	name         number
	blanks       uint8
	any          bool // some byte of the line was read
}

func isBlank(b byte) bool      { return b == ' ' || b == '\t' }
func isDigit(b byte) bool      { return b >= '0' && b <= '9' }
func isIdentStart(b byte) bool { return b == '_' || b|0x20 >= 'a' && b|0x20 <= 'z' }
func isIdent(b byte) bool      { return isIdentStart(b) || isDigit(b) || b == '.' || b == '-' }
func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b | 0x20
	}
	return b
}

// step reads b (not a line end) and says what the line is now.
func (h *head) step(b byte, maxBlanks int) int {
	h.any = true
	blank := func() int {
		h.blanks++
		if int(h.blanks) > maxBlanks {
			return oReject
		}
		return oMore
	}
	switch h.phase {
	case hIndent:
		if isBlank(b) {
			return blank()
		}
		h.blanks = 0
		switch lower(b) {
		case ':':
			h.phase, h.k = hColon, 0
		case '#':
			h.phase = hHash
		case 'a':
			h.phase, h.kw, h.k = hWord, kwAnswer, 1
		case 'f':
			h.phase, h.kw, h.k = hWord, kwFinal, 1
		case 'p':
			h.phase, h.kw, h.k = hWord, kwPlan, 1
		default:
			return oProse
		}
	case hColon:
		if b != evidence[h.k] {
			return oProse
		}
		h.k++
		if int(h.k) == len(evidence) {
			h.phase, h.style, h.name = hColonNum, 0, number{}
		}
	case hColonNum:
		switch {
		case isDigit(b):
			h.name.add(b)
		case b == ':' && h.name.nd > 0:
			h.phase, h.blanks = hAfterRef, 0
		default:
			return oProse
		}
	case hHash:
		if b != 'E' {
			return oProse
		}
		h.phase, h.style, h.name = hHashE, 1, number{}
	case hHashE:
		if isDigit(b) {
			h.name.add(b)
			return oMore
		}
		if h.name.nd == 0 {
			return oProse
		}
		h.phase, h.blanks = hAfterRef, 0
		return h.step(b, maxBlanks)
	case hAfterRef:
		switch {
		case isBlank(b):
			return blank()
		case b == '=':
			return oStep
		case b == '[':
			return oBroken
		case isIdentStart(b):
			h.phase = hIdent
		default:
			return oProse
		}
	case hIdent, hIdentBlank:
		switch {
		case b == '[':
			return oBroken
		case isBlank(b):
			h.phase = hIdentBlank
		case h.phase == hIdent && isIdent(b):
		default:
			return oProse
		}
	case hWord:
		w := keywords[h.kw]
		if lower(b) != w[h.k] {
			if b >= 0x80 && (w[h.k] == 's' || w[h.k] == 'k') {
				// (?i) folds ſ (U+017F) to s and K (U+212A) to k: keep clear of it.
				return oReject
			}
			return oProse
		}
		h.k++
		if int(h.k) == len(w) {
			h.phase, h.blanks = hWordBlank, 0
		}
	case hWordBlank:
		switch {
		case isBlank(b):
			return blank()
		case h.kw == kwFinal && h.blanks > 0 && lower(b) == 'a':
			h.phase, h.kw, h.k = hWord, kwAnswer, 1
		case h.kw == kwAnswer && b == ':':
			return oAnswer
		case h.kw == kwPlan && b == ':':
			return oNote
		default:
			return oProse
		}
	}
	return oMore
}

// References inside inputs and Answer lines, read as planparser's lexer does.
const (
	rsNone uint8 = iota
	rsColon
	rsColonNum
	rsHash
	rsHashE
)

type refScan struct {
	phase, k uint8
	name     number
}

// Modes of a State: where in a line it is.
const (
	mHead      uint8 = iota // the start of a line, its kind not known yet
	mEq                     // after "=": blanks, wrapping "[", the tool
	mTool                   // inside a tool name
	mToolBlank              // blanks between the tool and "["
	mInput                  // inside the call's brackets
	mClose                  // closing the wrapping brackets
	mComment                // after the call, to the end of the line
	mNote                   // a Plan: line
	mAnswer                 // the Answer: line
	mProse                  // a line planparser ignores
)

// State is where a plan's text stands in the grammar. It is a small value: copy
// it to snapshot or branch. The zero State is not valid; use Grammar.Start.
type State struct {
	def      [2][2]uint64 // evidence names defined, by style and number
	steps    uint8
	last     uint8 // number of the last step
	lastSt   uint8 // its style
	answered bool
	cited    bool  // the Answer line cites a step
	prose    uint8 // prose lines so far
	notes    uint8 // Plan: lines since the last step
	cr       bool  // the last byte was CR: an LF right after belongs to it
	u8need   uint8 // UTF-8 continuation bytes still due
	u8lo     uint8 // range of the next one
	u8hi     uint8
	u8cp     rune // the character's bits so far

	mode   uint8
	guard  bool // h is the head of an input's continuation line
	h      head
	name   number // of the step being written
	nameSt uint8
	wraps  uint8
	closed uint8
	tool   uint16
	depth  uint8
	blanks uint8
	n      uint16 // bytes of the input or of the line
	rs     refScan
	valid  bool
}

// Start is the state before the first byte of a plan.
func (g *Grammar) Start() State { return State{valid: true} }

// ErrRejected is wrapped when text leaves the plan language.
var ErrRejected = errors.New("constrain: text leaves the plan language")

// Advance feeds text and returns the state after it, or ErrRejected with the
// offset of the first byte the grammar does not allow.
func (g *Grammar) Advance(s State, text string) (State, error) {
	if !s.valid {
		return s, fmt.Errorf("%w: invalid state", ErrRejected)
	}
	for i := 0; i < len(text); i++ {
		if !g.step(&s, text[i]) {
			return s, fmt.Errorf("%w: byte %d (%q)", ErrRejected, i, text[i])
		}
	}
	return s, nil
}

// Allows reports whether b may follow s.
func (g *Grammar) Allows(s State, b byte) bool { return s.valid && g.step(&s, b) }

func (s *State) defined(style uint8, v int) bool {
	return v >= 0 && v <= maxName && s.def[style][v>>6]&(1<<(v&63)) != 0
}

// step feeds one byte, reporting whether the grammar allows it; s is garbage
// after a false.
func (g *Grammar) step(s *State, b byte) bool {
	if s.cr {
		s.cr = false
		if b == '\n' {
			return true
		}
	}
	if s.u8need > 0 {
		if b < s.u8lo || b > s.u8hi {
			return false
		}
		s.u8need--
		s.u8lo, s.u8hi = 0x80, 0xBF
		s.u8cp = s.u8cp<<6 | rune(b&0x3F)
		if s.u8need == 0 && unplain(s.u8cp) {
			return false
		}
		return g.byteIn(s, 0x80)
	}
	switch {
	case b == '\r':
		s.cr = true
		b = '\n'
	case b < 0x20 && b != '\t' && b != '\n', b == 0x7f:
		// Other control bytes: planparser's \s would read \v and \f as blanks.
		return false
	case b >= 0x80:
		s.u8lo, s.u8hi = 0x80, 0xBF
		s.u8cp = rune(b & 0x0F) // the bits of a 3-byte lead; 2- and 4-byte leads below
		switch {
		case b >= 0xC2 && b <= 0xDF:
			s.u8need, s.u8cp = 1, rune(b&0x1F)
		case b == 0xE0:
			s.u8need, s.u8lo = 2, 0xA0
		case b == 0xED:
			s.u8need, s.u8hi = 2, 0x9F
		case b >= 0xE1 && b <= 0xEF:
			s.u8need = 2
		case b == 0xF0:
			s.u8need, s.u8lo, s.u8cp = 3, 0x90, 0
		case b >= 0xF1 && b <= 0xF3:
			s.u8need, s.u8cp = 3, rune(b&0x07)
		case b == 0xF4:
			s.u8need, s.u8hi, s.u8cp = 3, 0x8F, 4
		default:
			return false
		}
	}
	return g.byteIn(s, b)
}

// unplain reports the characters planparser does not read as themselves: Unicode
// spaces (category Zs) read as a space, the line and paragraph separators and
// next line as a line end, the zero-width no-break space (a byte order mark)
// and zero-width space as nothing. The grammar keeps them out, so that every
// other non-ASCII character is text wherever it appears.
func unplain(r rune) bool {
	return r == '\uFEFF' || r == '\u200B' || r == '\u2028' || r == '\u2029' || r == '\u0085' ||
		r != ' ' && unicode.Is(unicode.Zs, r)
}

// byteIn feeds one byte to the line structure: ASCII as is, any byte >= 0x80 as
// text.
func (g *Grammar) byteIn(s *State, b byte) bool {
	lim := &g.lim
	switch s.mode {
	case mHead:
		return g.headByte(s, b)
	case mEq:
		switch {
		case isBlank(b):
			s.blanks++
			return int(s.blanks) <= lim.MaxBlanks
		case b == '[':
			s.wraps++
			s.blanks = 0
			return int(s.wraps) <= lim.MaxWraps
		}
		s.tool = 0
		return g.toolByte(s, b)
	case mTool:
		if g.toolByte(s, b) {
			return true
		}
		if g.nodes[s.tool].tool < 0 {
			return false
		}
		switch {
		case isBlank(b):
			s.mode, s.blanks = mToolBlank, 1
			return true
		case b == '[':
			g.openInput(s)
			return true
		}
		return false
	case mToolBlank:
		switch {
		case isBlank(b):
			s.blanks++
			return int(s.blanks) <= lim.MaxBlanks
		case b == '[':
			g.openInput(s)
			return true
		}
		return false
	case mInput:
		return g.inputByte(s, b)
	case mClose:
		switch {
		case isBlank(b):
			s.blanks++
			return int(s.blanks) <= lim.MaxBlanks
		case b == ']':
			s.closed++
			s.blanks = 0
			if s.closed == s.wraps {
				g.define(s)
			}
			return true
		}
		return false
	case mComment:
		if b == '[' || b == ']' {
			return false
		}
		fallthrough
	case mNote, mProse:
		if b == '\n' {
			return g.endLine(s)
		}
		s.n++
		return int(s.n)+int(s.u8need) <= lim.MaxLineBytes
	case mAnswer:
		if !g.scanRef(s, b) {
			return false
		}
		if b == '\n' {
			return g.endLine(s)
		}
		s.n++
		return int(s.n)+int(s.u8need)+g.refFix(s) <= lim.MaxLineBytes
	}
	return false
}

func (g *Grammar) toolByte(s *State, b byte) bool {
	for _, k := range g.nodes[s.tool].kids {
		if k.b == b {
			s.mode, s.tool = mTool, k.node
			return true
		}
	}
	return false
}

func (g *Grammar) openInput(s *State) {
	s.mode, s.depth, s.n, s.rs, s.guard = mInput, 1, 0, refScan{}, false
}

// define records the step whose call just closed.
func (g *Grammar) define(s *State) {
	v := s.name.num
	s.def[s.nameSt][v>>6] |= 1 << (v & 63)
	s.steps++
	s.last, s.lastSt = uint8(v), s.nameSt
	s.notes = 0
	s.mode, s.n = mComment, 0
}

func (g *Grammar) endLine(s *State) bool {
	s.mode, s.h, s.n, s.rs = mHead, head{}, 0, refScan{}
	return true
}

// Outcomes allowed on the next top-level line.
func (g *Grammar) stepOK(s *State) bool   { return int(s.steps) < g.lim.MaxSteps && !s.answered }
func (g *Grammar) answerOK(s *State) bool { return s.steps > 0 && !s.answered }
func (g *Grammar) noteOK(s *State) bool   { return g.stepOK(s) && int(s.notes) < g.lim.MaxNotes }
func (g *Grammar) proseOK(s *State) bool  { return int(s.prose) < g.lim.MaxProseLines }

// fresh reports whether the named step may be defined now.
func (s *State) fresh(style uint8, n number) bool {
	return n.nd > 0 && !n.bad && !s.defined(style, int(n.num))
}

// headCanReach reports whether the undecided line head of s can still become a
// line the state allows other than prose.
func (g *Grammar) headCanReach(s *State) bool {
	h := &s.h
	free := func(v int) bool { return !s.defined(h.style, v) }
	switch h.phase {
	case hIndent:
		return g.stepOK(s) || g.answerOK(s) || g.noteOK(s)
	case hColon, hHash:
		return g.stepOK(s)
	case hColonNum, hHashE:
		return g.stepOK(s) && h.name.extensions(free)
	case hAfterRef:
		return g.stepOK(s) && s.fresh(h.style, h.name)
	case hWord, hWordBlank:
		if h.kw == kwPlan {
			return g.noteOK(s)
		}
		return g.answerOK(s)
	}
	return false
}

func (g *Grammar) headByte(s *State, b byte) bool {
	if b == '\n' {
		// A line that ends undecided (an empty one too) is prose.
		if !g.proseOK(s) {
			return false
		}
		s.prose++
		return g.endLine(s)
	}
	switch s.h.step(b, g.lim.MaxBlanks) {
	case oMore:
		s.n++
		return int(s.n) <= g.lim.MaxLineBytes && (g.proseOK(s) || g.headCanReach(s))
	case oProse:
		if !g.proseOK(s) {
			return false
		}
		s.prose++
		s.mode = mProse
		s.n++
		return int(s.n)+int(s.u8need) <= g.lim.MaxLineBytes
	case oStep:
		if !g.stepOK(s) || !s.fresh(s.h.style, s.h.name) {
			return false
		}
		s.mode, s.name, s.nameSt, s.blanks, s.wraps, s.closed = mEq, s.h.name, s.h.style, 0, 0, 0
		return true
	case oAnswer:
		if !g.answerOK(s) {
			return false
		}
		s.mode, s.answered, s.n, s.rs = mAnswer, true, 0, refScan{}
		return true
	case oNote:
		if !g.noteOK(s) {
			return false
		}
		s.mode, s.n = mNote, 0
		s.notes++
		return true
	}
	return false
}

func (g *Grammar) inputByte(s *State, b byte) bool {
	if b == ']' && s.depth == 1 {
		if !g.scanRef(s, b) {
			return false
		}
		s.blanks = 0
		if s.wraps == 0 {
			g.define(s)
		} else {
			s.mode = mClose
		}
		return true
	}
	if !g.scanRef(s, b) {
		return false
	}
	if s.guard && b != '\n' {
		// A continuation line must not start like a plan line: planparser would
		// take the input as unclosed.
		switch s.h.step(b, 255) {
		case oMore:
		case oProse:
			s.guard = false
		default:
			return false
		}
	}
	switch b {
	case '[':
		s.depth++
		if int(s.depth) > g.lim.MaxDepth {
			return false
		}
	case ']':
		s.depth--
	case '\n':
		s.guard, s.h = true, head{}
	}
	s.n++
	return int(s.n)+g.closeLen(s) <= g.lim.MaxInputBytes
}

// closeLen is how many more input bytes closing the input takes.
func (g *Grammar) closeLen(s *State) int { return int(s.u8need) + g.refFix(s) + int(s.depth) - 1 }

// refFix is how many digits a pending "#EN" reference needs before it ends on
// a defined name: planparser reads the digits greedily.
func (g *Grammar) refFix(s *State) int {
	r := &s.rs
	if r.phase != rsHashE || r.name.nd == 0 || s.defined(1, int(r.name.num)) && !r.name.bad {
		return 0
	}
	best := -1
	r.name.extensions(func(v int) bool {
		if s.defined(1, v) {
			best = len(fmt.Sprint(v)) - int(r.name.nd)
			return true
		}
		return false
	})
	return max(best, 0)
}

// scanRef follows references through b; it is false when b completes a reference
// to evidence not defined yet, or makes "#EN" digits no defined name begins with.
func (g *Grammar) scanRef(s *State, b byte) bool {
	r := &s.rs
	for {
		switch r.phase {
		case rsNone:
			switch b {
			case ':':
				r.phase, r.k = rsColon, 0
			case '#':
				r.phase = rsHash
			}
			return true
		case rsColon:
			if b == evidence[r.k] {
				r.k++
				if int(r.k) == len(evidence) {
					r.phase, r.name = rsColonNum, number{}
				}
				return true
			}
		case rsColonNum:
			if isDigit(b) {
				r.name.add(b)
				return true
			}
			if b == ':' && r.name.nd > 0 {
				if r.name.bad || !s.defined(0, int(r.name.num)) {
					return false
				}
				r.phase = rsNone
				s.cited = s.cited || s.mode == mAnswer
				return true
			}
		case rsHash:
			if b == 'E' {
				r.phase, r.name = rsHashE, number{}
				return true
			}
		case rsHashE:
			if isDigit(b) {
				r.name.add(b)
				return r.name.extensions(func(v int) bool { return s.defined(1, v) })
			}
			if r.name.nd > 0 {
				if r.name.bad || !s.defined(1, int(r.name.num)) {
					return false
				}
				s.cited = s.cited || s.mode == mAnswer
			}
		}
		r.phase = rsNone // b ends the attempt; it may start the next one
	}
}

// refPending reports a "#EN" reference still open at the end of the text, and
// whether it names defined evidence.
func (s *State) refPending() (open, ok bool) {
	r := &s.rs
	if r.phase != rsHashE || r.name.nd == 0 {
		return false, true
	}
	return true, !r.name.bad && s.defined(1, int(r.name.num))
}

// Accepting reports whether the text so far is a complete plan: planparser parses
// it without diagnostics (and it has an Answer line when the options require one).
func (g *Grammar) Accepting(s State) bool {
	if !s.valid || s.u8need > 0 || s.steps == 0 || g.opts.RequireAnswer && !s.answered {
		return false
	}
	switch s.mode {
	case mHead:
		return !s.h.any || g.proseOK(&s)
	case mComment, mNote, mProse:
		return true
	case mAnswer:
		_, ok := s.refPending()
		return ok
	}
	return false
}

// Steps returns the number of steps the text so far has defined.
func (s State) Steps() int { return int(s.steps) }

// Finish returns the shortest text this grammar writes to complete the plan from
// s: it closes what is open (a character, a reference, brackets, the line) and
// writes an Answer line citing the last step, and a step calling the first tool
// when there is none. It is "" when s is complete with its Answer line.
func (g *Grammar) Finish(s State) string {
	var out []byte
	for range 4 * g.bmax {
		b, ok := g.closer(&s)
		if !ok {
			return string(out)
		}
		if !g.step(&s, b) {
			break
		}
		out = append(out, b)
	}
	// Unreachable when the closer and the grammar agree; tests check they do.
	panic(fmt.Sprintf("constrain: no completion after %q", out))
}

// lastName is the name of the last step defined.
func (s *State) lastName() string {
	if s.lastSt == 1 {
		return fmt.Sprintf("#E%d", s.last)
	}
	return fmt.Sprintf(":evidence%d:", s.last)
}

// closer returns the next byte of Finish, or false when s needs nothing more.
func (g *Grammar) closer(s *State) (byte, bool) {
	if s.u8need > 0 {
		for b := int(s.u8lo); b <= int(s.u8hi); b++ {
			if t := *s; g.step(&t, byte(b)) {
				return byte(b), true
			}
		}
	}
	if open, ok := s.refPending(); s.mode == mAnswer && (s.cited || open && ok) && g.Accepting(*s) {
		return 0, false
	}
	if s.mode != mAnswer && s.answered && g.Accepting(*s) {
		return 0, false
	}
	digit := func(style uint8, n number, ok func(int) bool) byte {
		d := n.digitsTo(ok)
		if d < 0 {
			return 0
		}
		return byte('0' + d)
	}
	switch s.mode {
	case mInput:
		if g.refFix(s) > 0 {
			return digit(1, s.rs.name, func(v int) bool { return s.defined(1, v) }), true
		}
		r := &s.rs
		if r.phase == rsColonNum && r.name.nd > 0 && !r.name.bad && s.defined(0, int(r.name.num)) &&
			int(s.n)+g.closeLen(s) < g.lim.MaxInputBytes {
			return ':', true // end the reference the model was writing
		}
		return ']', true
	case mClose:
		return ']', true
	case mToolBlank:
		return '[', true
	case mTool:
		if g.nodes[s.tool].tool >= 0 {
			return '[', true
		}
		return g.nodes[s.tool].fin, true
	case mEq:
		if s.blanks == 0 && s.wraps == 0 {
			return ' ', true
		}
		return g.nodes[0].fin, true
	case mComment, mNote, mProse:
		return '\n', true
	case mAnswer:
		if open, ok := s.refPending(); open && !ok {
			return digit(1, s.rs.name, func(v int) bool { return s.defined(1, v) }), true
		}
		name := s.lastName()
		partial := s.rs.partial()
		next, need := byte(' '), 1+len(name)
		if s.n > 0 && len(partial) < len(name) && name[:len(partial)] == partial {
			next, need = name[len(partial)], len(name)-len(partial)
		}
		if s.cited || int(s.n)+need > g.lim.MaxLineBytes {
			return 0, false // complete already; no room left on the line to cite
		}
		return next, true
	}
	// mHead
	h := &s.h
	if h.any && !g.headCanReach(s) {
		return '\n', true
	}
	free := func(v int) bool { return !s.defined(h.style, v) }
	switch h.phase {
	case hIndent:
		if g.answerOK(s) {
			return 'A', true
		}
		return ':', true
	case hColon:
		return evidence[h.k], true
	case hHash:
		return 'E', true
	case hColonNum, hHashE:
		if s.fresh(h.style, h.name) {
			if h.style == 0 {
				return ':', true
			}
			return ' ', true
		}
		return digit(h.style, h.name, free), true
	case hAfterRef:
		if h.blanks == 0 {
			return ' ', true
		}
		return '=', true
	case hWord:
		w := keywords[h.kw]
		if h.k == 0 {
			return w[0], true
		}
		return w[h.k], true
	case hWordBlank:
		if h.kw == kwFinal {
			if h.blanks == 0 {
				return ' ', true
			}
			return 'a', true
		}
		return ':', true
	}
	return '\n', true
}

// partial is the text of a reference being read.
func (r refScan) partial() string {
	switch r.phase {
	case rsColon:
		return ":" + evidence[:r.k]
	case rsColonNum:
		if r.name.bad {
			return ":evidence?"
		}
		if r.name.nd == 0 {
			return ":evidence"
		}
		return fmt.Sprintf(":evidence%d", r.name.num)
	case rsHash:
		return "#"
	case rsHashE:
		if r.name.bad {
			return "#E?"
		}
		if r.name.nd == 0 {
			return "#E"
		}
		return fmt.Sprintf("#E%d", r.name.num)
	}
	return ""
}
