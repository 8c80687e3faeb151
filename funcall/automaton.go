package funcall

// Limits bound what the automaton admits, so that every call it admits is at
// most MaxLen bytes long and decoding under it always ends.
type Limits struct {
	MaxString int // bytes of a string value (escapes and UTF-8 counted as bytes)
	MaxNumber int // bytes of a number value
	MaxSpace  int // bytes of one run of white space between JSON tokens
}

// DefaultLimits suit short tool inputs.
var DefaultLimits = Limits{MaxString: 512, MaxNumber: 24, MaxSpace: 16}

// maxIntDigits keeps every admitted integer inside int64.
const maxIntDigits = 18

// maxExpDigits keeps every admitted number finite.
const maxExpDigits = 2

// Automaton admits exactly the calls of a Set written as JSON,
//
//	{"function": NAME, "params": {PARAM: VALUE, ...}}
//
// with "function" first, only the function's params, each at most once, every
// required one, values of the declared types (JSON strings with their escapes
// and valid UTF-8, integers, numbers, true/false), and runs of spaces or
// newlines between tokens. It steps byte by byte on a State, a small value that
// can key a cache. It is safe for concurrent use.
type Automaton struct {
	set    *Set
	lim    Limits
	names  trie   // function names
	params []trie // each function's param names
	req    []uint64
	all    []uint64
	maxLen int
}

// State is where the automaton is after some bytes. The zero State is not
// valid; start from Automaton.Start.
type State struct {
	phase uint8
	sub   uint8  // the lexer's state inside a value or literal
	n     uint16 // bytes of the current value or white-space run
	fn    int16  // the chosen function, once its name is closed
	param int16  // the param whose value is being written
	node  int32  // trie node or literal position
	used  uint64 // params already written
}

const (
	pDead uint8 = iota
	pStart
	pKeyFn // `"function"`
	pColonFn
	pFnQuote
	pFnName
	pCommaFn
	pKeyParams // `"params"`
	pColonParams
	pOpenParams
	pFirstKey
	pParamName
	pColonValue
	pValue
	pString
	pInt
	pNum
	pBool
	pAfterValue
	pNextKey
	pEnd
	pDone
)

const (
	litFunction = `"function"`
	litParams   = `"params"`
)

// NewAutomaton returns the automaton of s's calls under lim (a zero field is
// DefaultLimits').
func NewAutomaton(s *Set, lim Limits) *Automaton {
	if lim.MaxString <= 0 {
		lim.MaxString = DefaultLimits.MaxString
	}
	if lim.MaxNumber <= 0 {
		lim.MaxNumber = DefaultLimits.MaxNumber
	}
	if lim.MaxSpace < 0 {
		lim.MaxSpace = 0
	}
	a := &Automaton{set: s, lim: lim}
	a.names = newTrie(s.Names())
	for _, f := range s.funcs {
		names := make([]string, len(f.Params))
		var req uint64
		for i, p := range f.Params {
			names[i] = p.Name
			if p.Required {
				req |= 1 << i
			}
		}
		a.params = append(a.params, newTrie(names))
		a.req = append(a.req, req)
		a.all = append(a.all, uint64(1)<<len(f.Params)-1)
		if l := a.callLen(f); l > a.maxLen {
			a.maxLen = l
		}
	}
	return a
}

// callLen bounds the bytes of any admitted call of f.
func (a *Automaton) callLen(f Function) int {
	spaces := 10 + 4*len(f.Params) // the runs of white space a call may have
	n := spaces*a.lim.MaxSpace + len(`{"function":"","params":{}}`) + len(f.Name)
	for _, p := range f.Params {
		n += len(p.Name) + len(`"":,`)
		switch p.Type {
		case String:
			n += a.lim.MaxString + len(`""`) + 6 // a character begun at the limit
		case Integer:
			n += maxIntDigits + 1
		case Number:
			n += a.lim.MaxNumber + 3
		case Boolean:
			n += len("false")
		}
	}
	return n
}

// MaxLen bounds the bytes of any call the automaton admits.
func (a *Automaton) MaxLen() int { return a.maxLen }

// Start is the state before the first byte.
func (a *Automaton) Start() State { return State{phase: pStart, fn: -1, param: -1} }

// Done reports whether s is after a complete call: nothing more may follow.
func (a *Automaton) Done(s State) bool { return s.phase == pDone }

// Feed steps s over text and reports whether text keeps the call admissible.
func (a *Automaton) Feed(s State, text []byte) (State, bool) {
	for _, b := range text {
		var ok bool
		if s, ok = a.Step(s, b); !ok {
			return State{}, false
		}
	}
	return s, true
}

// Accepts reports whether text is a complete admitted call.
func (a *Automaton) Accepts(text string) bool {
	s, ok := a.Feed(a.Start(), []byte(text))
	return ok && a.Done(s)
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' }

// Step returns the state after b, and false when b cannot follow s.
func (a *Automaton) Step(s State, b byte) (State, bool) {
	switch s.phase {
	case pStart, pColonFn, pFnQuote, pCommaFn, pColonParams, pOpenParams, pFirstKey,
		pColonValue, pValue, pAfterValue, pNextKey, pEnd:
		if isSpace(b) {
			return a.space(s)
		}
	case pKeyFn, pKeyParams:
		if s.node == 0 && isSpace(b) {
			return a.space(s)
		}
	}
	switch s.phase {
	case pStart:
		return expect(s, b, '{', pKeyFn)
	case pKeyFn:
		return a.literal(s, b, litFunction, pColonFn)
	case pColonFn:
		return expect(s, b, ':', pFnQuote)
	case pFnQuote:
		if b != '"' {
			return State{}, false
		}
		return next(s, pFnName), true
	case pFnName:
		node := &a.names.nodes[s.node]
		if b == '"' {
			if node.term < 0 {
				return State{}, false
			}
			s = next(s, pCommaFn)
			s.fn = int16(node.term)
			return s, true
		}
		child, ok := node.child(b)
		if !ok {
			return State{}, false
		}
		s.node = child
		return s, true
	case pCommaFn:
		return expect(s, b, ',', pKeyParams)
	case pKeyParams:
		return a.literal(s, b, litParams, pColonParams)
	case pColonParams:
		return expect(s, b, ':', pOpenParams)
	case pOpenParams:
		return expect(s, b, '{', pFirstKey)
	case pFirstKey:
		switch {
		case b == '"' && a.all[s.fn]&^s.used != 0:
			return next(s, pParamName), true
		case b == '}' && a.req[s.fn]&^s.used == 0:
			return next(s, pEnd), true
		}
		return State{}, false
	case pParamName:
		t := &a.params[s.fn]
		node := &t.nodes[s.node]
		if b == '"' {
			if node.term < 0 || s.used&(1<<node.term) != 0 {
				return State{}, false
			}
			s = next(s, pColonValue)
			s.param = int16(node.term)
			return s, true
		}
		child, ok := node.child(b)
		if !ok || t.nodes[child].below&^s.used == 0 {
			return State{}, false
		}
		s.node = child
		return s, true
	case pColonValue:
		return expect(s, b, ':', pValue)
	case pValue:
		return a.value(s, b)
	case pString:
		return a.str(s, b)
	case pInt:
		return a.integer(s, b)
	case pNum:
		return a.number(s, b)
	case pBool:
		lit := "true"
		if s.sub == 1 {
			lit = "false"
		}
		if b != lit[s.node] {
			return State{}, false
		}
		s.node++
		if int(s.node) == len(lit) {
			return a.valueDone(s), true
		}
		return s, true
	case pAfterValue:
		switch {
		case b == ',' && a.all[s.fn]&^s.used != 0:
			return next(s, pNextKey), true
		case b == '}' && a.req[s.fn]&^s.used == 0:
			return next(s, pEnd), true
		}
		return State{}, false
	case pNextKey:
		return expect(s, b, '"', pParamName)
	case pEnd:
		return expect(s, b, '}', pDone)
	}
	return State{}, false
}

// space takes one byte of white space where a run may be.
func (a *Automaton) space(s State) (State, bool) {
	if int(s.n) >= a.lim.MaxSpace {
		return State{}, false
	}
	s.n++
	return s, true
}

// next moves to phase p with its counters reset.
func next(s State, p uint8) State {
	s.phase, s.sub, s.n, s.node = p, 0, 0, 0
	return s
}

func expect(s State, b, want byte, p uint8) (State, bool) {
	if b != want {
		return State{}, false
	}
	return next(s, p), true
}

func (a *Automaton) literal(s State, b byte, lit string, p uint8) (State, bool) {
	if b != lit[s.node] {
		return State{}, false
	}
	s.node++
	s.n = 0
	if int(s.node) == len(lit) {
		return next(s, p), true
	}
	return s, true
}

// value starts the value of s.param.
func (a *Automaton) value(s State, b byte) (State, bool) {
	switch a.set.funcs[s.fn].Params[s.param].Type {
	case String:
		return expect(s, b, '"', pString)
	case Integer:
		return a.integer(next(s, pInt), b)
	case Number:
		return a.number(next(s, pNum), b)
	case Boolean:
		s = next(s, pBool)
		switch b {
		case 't':
			s.node = 1
		case 'f':
			s.sub, s.node = 1, 1
		default:
			return State{}, false
		}
		return s, true
	}
	return State{}, false
}

// valueDone marks s.param written.
func (a *Automaton) valueDone(s State) State {
	s.used |= 1 << s.param
	s = next(s, pAfterValue)
	s.param = -1
	return s
}

// String lexer states in State.sub.
const (
	strPlain  = 0
	strEscape = 1
	strHex    = 10 // strHex+k: k hex digits of \u still to come
	strCont   = 20 // strCont+k: k UTF-8 continuation bytes still to come
)

func (a *Automaton) str(s State, b byte) (State, bool) {
	room := int(s.n) < a.lim.MaxString // a new character may begin
	switch {
	case s.sub == strPlain:
		switch {
		case b == '"':
			return a.valueDone(s), true
		case !room || b < 0x20 || b == 0x7f:
			return State{}, false
		case b == '\\':
			s.sub = strEscape
		case b < 0x80:
		case b >= 0xc2 && b <= 0xdf:
			s.sub = strCont + 1
		case b >= 0xe0 && b <= 0xef:
			s.sub = strCont + 2
		case b >= 0xf0 && b <= 0xf4:
			s.sub = strCont + 3
		default:
			return State{}, false
		}
	case s.sub == strEscape:
		switch b {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.sub = strPlain
		case 'u':
			s.sub = strHex + 4
		default:
			return State{}, false
		}
	case s.sub > strHex && s.sub <= strHex+4:
		if !isHex(b) {
			return State{}, false
		}
		if s.sub--; s.sub == strHex {
			s.sub = strPlain
		}
	case s.sub > strCont && s.sub <= strCont+3:
		if b < 0x80 || b > 0xbf {
			return State{}, false
		}
		if s.sub--; s.sub == strCont {
			s.sub = strPlain
		}
	default:
		return State{}, false
	}
	s.n++
	return s, true
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Integer lexer states: -?(0|[1-9][0-9]{0,17}).
const (
	intStart = iota
	intMinus
	intZero   // complete
	intDigits // complete
)

func (a *Automaton) integer(s State, b byte) (State, bool) {
	switch {
	case s.sub == intStart && b == '-':
		s.sub = intMinus
	case (s.sub == intStart || s.sub == intMinus) && isDigit(b):
		s.sub = intDigits
		if b == '0' {
			s.sub = intZero
		}
		s.n = 1
		return s, true
	case s.sub == intDigits && isDigit(b):
		if int(s.n) >= maxIntDigits {
			return State{}, false
		}
	case s.sub == intZero || s.sub == intDigits:
		return a.Step(a.valueDone(s), b)
	default:
		return State{}, false
	}
	s.n++
	return s, true
}

// Number lexer states: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?
const (
	numStart = iota
	numMinus
	numZero // complete
	numInt  // complete
	numDot
	numFrac // complete
	numE
	numESign
	numExp1 // complete
	numExp2 // complete
)

func (a *Automaton) number(s State, b byte) (State, bool) {
	room := int(s.n) < a.lim.MaxNumber // an optional part may grow
	switch {
	case s.sub == numStart && b == '-':
		s.sub = numMinus
	case (s.sub == numStart || s.sub == numMinus) && isDigit(b):
		s.sub = numInt
		if b == '0' {
			s.sub = numZero
		}
	case s.sub == numInt && isDigit(b) && room:
	case (s.sub == numZero || s.sub == numInt) && b == '.' && room:
		s.sub = numDot
	case s.sub == numDot && isDigit(b):
		s.sub = numFrac
	case s.sub == numFrac && isDigit(b) && room:
	case (s.sub == numZero || s.sub == numInt || s.sub == numFrac) && (b == 'e' || b == 'E') && room:
		s.sub = numE
	case s.sub == numE && (b == '+' || b == '-'):
		s.sub = numESign
	case (s.sub == numE || s.sub == numESign) && isDigit(b):
		s.sub = numExp1
	case s.sub == numExp1 && isDigit(b) && maxExpDigits > 1:
		s.sub = numExp2
	case s.sub == numZero || s.sub == numInt || s.sub == numFrac || s.sub == numExp1 || s.sub == numExp2:
		return a.Step(a.valueDone(s), b)
	default:
		return State{}, false
	}
	s.n++
	return s, true
}

// trie is a byte trie of names; below is the set of names under a node, as
// bits of their index (for the first 64; param lists are no longer).
type trie struct{ nodes []trieNode }

type trieNode struct {
	keys  []byte
	kids  []int32
	term  int // the name ending here, or -1
	below uint64
}

func (n *trieNode) child(b byte) (int32, bool) {
	for i, k := range n.keys {
		if k == b {
			return n.kids[i], true
		}
	}
	return 0, false
}

func newTrie(names []string) trie {
	t := trie{nodes: []trieNode{{term: -1}}}
	for i, name := range names {
		at := int32(0)
		for j := 0; j < len(name); j++ {
			if i < 64 {
				t.nodes[at].below |= 1 << i
			}
			c, ok := t.nodes[at].child(name[j])
			if !ok {
				c = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{term: -1})
				t.nodes[at].keys = append(t.nodes[at].keys, name[j])
				t.nodes[at].kids = append(t.nodes[at].kids, c)
			}
			at = c
		}
		if i < 64 {
			t.nodes[at].below |= 1 << i
		}
		t.nodes[at].term = i
	}
	return t
}
