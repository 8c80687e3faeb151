package constrain

import (
	"errors"
	"strings"
	"testing"
)

// TestGrammarCases pins the edges of the language: each text is admitted whole
// and complete or not, and where planparser has a verdict the grammar agrees or
// is stricter (the cases marked subset, which the package doc lists).
func TestGrammarCases(t *testing.T) {
	for _, c := range []struct {
		name, src string
		ok        bool
		subset    bool // planparser accepts it; the grammar keeps out
	}{
		{"minimal", ":evidence0: = DuckDuckGo[x]\nAnswer: :evidence0:", true, false},
		{"hash names", "#E1 = LLM[a]\n#E2 = LLM[#E1]\nFinal answer: #E2", true, false},
		{"empty input", "#E1 = LLM[]\nAnswer: #E1", true, false},
		{"blank before bracket", "#E1 = LLM [a]\nAnswer: #E1", true, false},
		{"wrapped", "#E1 = [ [LLM[a]] ]\nAnswer: #E1", true, false},
		{"lone CR", "#E1 = LLM[a]\rAnswer: #E1\r", true, false},
		{"utf8 input", "#E1 = LLM[Zürich – 東京 🙂]\nAnswer: #E1", true, false},
		{"line separator as a line end", "#E1 = LLM[a\u2028Answer: b]\nAnswer: #E1", false, false},
		{"paragraph separator", "#E1 = LLM[a\u2029b]\nAnswer: #E1", false, true},
		{"next line", "Plan: x\u0085y\n#E1 = LLM[a]\nAnswer: #E1", false, true},
		{"ref digits greedy", "#E1 = LLM[a]\n#E2 = LLM[#E12]\nAnswer: #E2", false, false},
		{"ref then letter", "#E1 = LLM[a]\n#E2 = LLM[#E1x]\nAnswer: #E2", true, false},
		{"not a ref", "#E1 = LLM[:evidence7 and #E]\nAnswer: #E1", true, false},
		{"undefined ref", "#E1 = LLM[:evidence7:]\nAnswer: #E1", false, false},
		{"self ref", "#E1 = LLM[#E1]\nAnswer: #E1", false, false},
		{"duplicate", "#E1 = LLM[a]\n#E1 = LLM[b]\nAnswer: #E1", false, false},
		{"unknown tool", "#E1 = LLMs[a]\nAnswer: #E1", false, false},
		{"tool case", "#E1 = llm[a]\nAnswer: #E1", false, false},
		{"comment", "#E1 = LLM[a] (best guess)\nAnswer: #E1", true, false},
		{"bracket in comment", "#E1 = LLM[a] [b]\nAnswer: #E1", false, false},
		{"continuation", "#E1 = LLM[a\nb]\nAnswer: #E1", true, false},
		{"continuation answer", "#E1 = LLM[a\nAnswer: b]\nAnswer: #E1", false, false},
		{"continuation step", "#E1 = LLM[a\n#E2 = b]\nAnswer: #E1", false, false},
		{"continuation ref bracket", "#E1 = LLM[a]\n#E2 = LLM[a\n#E1 [x]]\nAnswer: #E2", false, false},
		{"continuation ref", "#E1 = LLM[a]\n#E2 = LLM[a\n#E1]\nAnswer: #E2", true, false},
		{"broken step start", "#E1 LLM[a]\nAnswer: #E1", false, false},
		{"prose ref line", "#E1 = LLM[a]\n#E1 is the result\nAnswer: #E1", true, false},
		{"second answer", "#E1 = LLM[a]\nAnswer: #E1\nAnswer: #E1", false, false},
		{"answer without steps", "Answer: 42", false, false},
		{"answer undefined", "#E1 = LLM[a]\nAnswer: #E2", false, false},
		{"unclosed", "#E1 = LLM[a", false, false},
		{"control byte", "#E1 = LLM[a\x01]\nAnswer: #E1", false, true},
		{"no-break space", "#E1\u00a0= LLM[a]\nAnswer: #E1", false, true},
		{"no-break space in input", "#E1 = LLM[a\u00a0b]\nAnswer: #E1", false, true},
		{"byte order mark", "\ufeff#E1 = LLM[a]\nAnswer: #E1", false, true},
		{"continuation behind a Unicode space", "#E1 = LLM[a\n\u3000Answer: b]\nAnswer: #E1", false, false},
		{"zero-width non-joiner", "#E1 = LLM[a\u200cb]\nAnswer: #E1", true, false},
		{"invalid utf8", "#E1 = LLM[a\xff]\nAnswer: #E1", false, true},
		{"step after answer", "#E1 = LLM[a]\nAnswer: #E1\n#E2 = LLM[b]", false, true},
		{"leading zero name", "#E01 = LLM[a]\nAnswer: #E01", false, true},
		{"name too big", "#E128 = LLM[a]\nAnswer: #E128", false, true},
		{"call on the next line", "#E1 = [\nLLM[a]]\nAnswer: #E1", false, true},
		{"long s in answer", "#E1 = LLM[a]\nAn\u017fwer: #E1", false, true},
		{"too many steps", strings.Repeat("#E1 = LLM[a]\n", 1) + "#E2 = LLM[a]\n#E3 = LLM[a]\n#E4 = LLM[a]\n#E5 = LLM[a]\nAnswer: #E5", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := mustGrammar(t, Options{Tools: []string{"LLM", "DuckDuckGo"}, Limits: Limits{MaxSteps: 4}})
			s, err := g.Advance(g.Start(), c.src)
			if err != nil && !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v is not ErrRejected", err)
			}
			got := err == nil && g.Accepting(s)
			if got != c.ok {
				t.Errorf("admitted = %v (%v), want %v", got, err, c.ok)
			}
			_, perr := planparserParse(c.src, []string{"LLM", "DuckDuckGo"})
			if parserOK := perr == nil; parserOK != (c.ok || c.subset) {
				t.Errorf("planparser valid = %v (%v), but the case says %v", parserOK, perr, c.ok || c.subset)
			}
		})
	}
}

// TestRequireAnswer: with the option a plan ends only after its Answer line.
func TestRequireAnswer(t *testing.T) {
	g := mustGrammar(t, Options{Tools: []string{"LLM"}, RequireAnswer: true})
	s, err := g.Advance(g.Start(), "#E1 = LLM[a]\n")
	if err != nil {
		t.Fatal(err)
	}
	if g.Accepting(s) {
		t.Error("a plan without an Answer line is complete")
	}
	if fin := g.Finish(s); fin != "Answer: #E1" {
		t.Errorf("Finish = %q, want the Answer line citing #E1", fin)
	}
}

// TestOptionsErrors: bad options are refused with ErrOptions.
func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{},
		{Tools: []string{"Duck Duck"}},
		{Tools: []string{"9lives"}},
		{Tools: []string{"LLM", "LLM"}},
		{Tools: []string{"LLM"}, Limits: Limits{MaxSteps: 101}},
		{Tools: []string{"LLM"}, Limits: Limits{MaxDepth: -1}},
	} {
		if _, err := New(o); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v) = %v, want ErrOptions", o, err)
		}
	}
}

// TestToolName checks which names a Grammar takes as tools.
func TestToolName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"DuckDuckGo", true}, {"_x", true}, {"a.b-c_9", true}, {strings.Repeat("a", 64), true},
		{"", false}, {"9lives", false}, {"Wetter-ä", false}, {"a b", false}, {"a[b", false},
		{strings.Repeat("a", 65), false},
	} {
		if got := ToolName(tt.name); got != tt.ok {
			t.Errorf("ToolName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
		_, err := New(Options{Tools: []string{tt.name}})
		if (err == nil) != tt.ok {
			t.Errorf("New with tool %q: %v", tt.name, err)
		}
	}
}
