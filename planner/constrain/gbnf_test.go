package constrain

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// xgrammarDir holds the node script and the npm package of the xgrammar tests.
const xgrammarDir = "testdata/gbnf"

// xgrammar asks xgrammar (the grammar engine of vLLM, run by node from its npm
// package) whether grammar accepts each text whole. It skips the test where
// node or the package is missing.
func xgrammar(t *testing.T, grammar string, texts []string) []bool {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed, so the GBNF grammar is not checked against xgrammar (apt-get install nodejs npm, then npm ci in planner/constrain/testdata/gbnf; .ci/run does both)")
	}
	if _, err := os.Stat(filepath.Join(xgrammarDir, "node_modules", "@mlc-ai", "web-xgrammar")); err != nil {
		t.Skipf("xgrammar's npm package is not installed, so the GBNF grammar is not checked (npm ci in planner/constrain/%s; .ci/run does it)", xgrammarDir)
	}
	in, err := json.Marshal(map[string]any{"grammar": grammar, "texts": texts})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(f, in, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(xgrammarDir, "check.mjs"), f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xgrammar: %v\n%s", err, stderr.String())
	}
	// xgrammar prints its warnings on stdout too: the answer is the last line.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	var got []bool
	if err := json.Unmarshal([]byte(last), &got); err != nil || len(got) != len(texts) {
		t.Fatalf("xgrammar answered %.200q (%v) for %d texts", last, err, len(texts))
	}
	return got
}

func mustGBNF(t *testing.T, g *Grammar, s State, next string) string {
	t.Helper()
	text, err := g.GBNF(s, next)
	if err != nil {
		t.Fatal(err)
	}
	checkDialect(t, text)
	return text
}

// gbnfExceptions are the valid corpus plans outside the GBNF language, and why.
var gbnfExceptions = map[string]string{
	"parallel": "its names skip from #E6 to #E10",
}

// TestGBNFCorpusXGrammar checks the GBNF grammar with xgrammar, an
// implementation of its own: it accepts every valid plan of planparser's
// corpus (but the exceptions, which it accepts once renumbered) and none of
// the invalid ones; with RequireAnswer, none without an Answer line.
func TestGBNFCorpusXGrammar(t *testing.T) {
	plans := corpus(t)
	var texts []string
	for _, p := range plans {
		texts = append(texts, p.src)
	}
	renumbered := strings.Replace(plansByName(t, plans)["parallel"], "#E10", "#E7", 2)
	texts = append(texts, renumbered)
	for _, requireAnswer := range []bool{false, true} {
		g := mustGrammar(t, Options{Tools: corpusTools, RequireAnswer: requireAnswer})
		got := xgrammar(t, mustGBNF(t, g, g.Start(), ""), texts)
		for i, p := range plans {
			want := valid(p.src) == nil && gbnfExceptions[p.name] == ""
			if requireAnswer && want {
				pl, _ := planparserParse(p.src, corpusTools)
				want = pl.Answer != nil
			}
			if got[i] != want {
				t.Errorf("RequireAnswer %v: %s: accepted = %v, want %v (%s)", requireAnswer, p.name, got[i], want, gbnfExceptions[p.name])
			}
		}
		if !got[len(plans)] {
			t.Errorf("RequireAnswer %v: parallel renumbered is not accepted:\n%s", requireAnswer, renumbered)
		}
	}
}

func plansByName(t *testing.T, plans []plan) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range plans {
		m[p.name] = p.src
	}
	if m["parallel"] == "" {
		t.Fatal("the corpus has no parallel plan")
	}
	return m
}

// TestGBNFCasesXGrammar checks plans at the edges of the GBNF language with
// xgrammar, and that every one it accepts planparser validates.
func TestGBNFCasesXGrammar(t *testing.T) {
	tools := []string{"LLM", "Search"}
	prefix := ":evidence0: = LLM[a]\n:evidence2: = Search[b :evidence0:]\n"
	cases := []struct {
		name   string
		lim    Limits
		prefix string // the plan text before, a prefix of whole lines
		next   string
		text   string
		want   bool
	}{
		{"no final line end", Limits{}, "", "", ":evidence0: = LLM[a]\nAnswer: :evidence0:", true},
		{"hash reference then digits", Limits{}, "", "", "#E1 = LLM[x]\n#E2 = LLM[#E12]\nAnswer: #E2\n", false},
		{"hash reference then a space and digits", Limits{}, "", "", "#E1 = LLM[x]\n#E2 = LLM[#E1 2]\nAnswer: #E2\n", true},
		{"hash reference then a line end", Limits{}, "", "", "#E1 = LLM[x]\n#E2 = LLM[#E1\nmore]\nAnswer: #E2\n", true},
		{"continuation like an Answer line", Limits{}, "", "", ":evidence0: = LLM[a\nAnswer: :evidence0:]\n", false},
		{"continuation like a step", Limits{}, "", "", ":evidence0: = LLM[a\n:evidence1: = LLM[b]]\nAnswer: :evidence0:\n", false},
		{"continuation indented", Limits{}, "", "", ":evidence0: = LLM[a\n  b]\nAnswer: :evidence0:\n", true},
		{"self reference", Limits{}, "", "", ":evidence0: = LLM[see :evidence0:]\nAnswer: :evidence0:\n", false},
		{"forward reference", Limits{}, "", "", ":evidence0: = LLM[see :evidence1:]\n:evidence1: = LLM[x]\nAnswer: :evidence1:\n", false},
		{"answer cites a later name", Limits{}, "", "", ":evidence0: = LLM[x]\nAnswer: :evidence1:\n", false},
		{"reference as text", Limits{}, "", "", ":evidence0: = LLM[x :evidence]\nAnswer: :evidence0:\n", false},
		{"colon and hash as text", Limits{}, "", "", ":evidence0: = LLM[a: b #1 c:\n#x]\nAnswer: #x :evidence0: (ok:)\n", true},
		{"unknown tool", Limits{}, "", "", ":evidence0: = Calc[2]\nAnswer: :evidence0:\n", false},
		{"second answer", Limits{}, "", "", ":evidence0: = LLM[x]\nAnswer: :evidence0:\nAnswer: :evidence0:\n", false},
		{"epilogue", Limits{}, "", "", ":evidence0: = LLM[x]\nAnswer: :evidence0:\n\nHope it helps.\n", true},
		{"note before the answer", Limits{}, "", "", ":evidence0: = LLM[x]\nPlan: done\nAnswer: :evidence0:\n", false},
		{"nested brackets", Limits{}, "", "", "Plan: x\n:evidence0: = LLM[a [b [c]] d]\nAnswer: :evidence0:\n", true},
		{"reference in nested brackets", Limits{}, "", "", ":evidence0: = LLM[a]\n:evidence1: = LLM[[ :evidence0: ]]\nAnswer: :evidence1:\n", false},
		{"unbalanced", Limits{}, "", "", ":evidence0: = LLM[a [b]\nAnswer: :evidence0:\n", false},
		{"too deep", Limits{MaxDepth: 2}, "", "", ":evidence0: = LLM[a [b [c]]]\nAnswer: :evidence0:\n", false},
		{"deep enough", Limits{MaxDepth: 2}, "", "", ":evidence0: = LLM[a [b] [c]]\nAnswer: :evidence0:\n", true},
		{"input at its bound", Limits{MaxInputBytes: 8}, "", "", ":evidence0: = LLM[12345678]\nAnswer: :evidence0:\n", true},
		{"input past its bound", Limits{MaxInputBytes: 8}, "", "", ":evidence0: = LLM[123456789]\nAnswer: :evidence0:\n", false},
		{"steps at the bound", Limits{MaxSteps: 2}, "", "", "#E1 = LLM[a]\n#E2 = LLM[b]\nAnswer: #E2\n", true},
		{"steps past the bound", Limits{MaxSteps: 2}, "", "", "#E1 = LLM[a]\n#E2 = LLM[b]\n#E3 = LLM[c]\nAnswer: #E3\n", false},
		{"no-break space, read as a space", Limits{}, "", "", ":evidence0: = LLM[a\u00a0b]\nAnswer: :evidence0:\n", true},
		{"control character", Limits{}, "", "", ":evidence0: = LLM[a\u0007b]\nAnswer: :evidence0:\n", false},
		{"lone carriage return", Limits{}, "", "", ":evidence0: = LLM[a\rb]\nAnswer: :evidence0:\n", false},
		{"non-ASCII text", Limits{}, "", "", ":evidence0: = LLM[Zürich 東京]\nAnswer: :evidence0: — done\n", true},
		{"wrapped call", Limits{MaxWraps: 1}, "", "", ":evidence0: = [ LLM [a] ]\nAnswer: :evidence0:\n", true},
		{"wrapped twice past the bound", Limits{MaxWraps: 1}, "", "", ":evidence0: = [[LLM[a]]]\nAnswer: :evidence0:\n", false},
		{"after a prefix", Limits{}, prefix, ":evidence3:", ":evidence3: = LLM[:evidence0: and :evidence2:]\nAnswer: :evidence3:\n", true},
		{"after a prefix, a gap", Limits{}, prefix, ":evidence3:", ":evidence3: = LLM[:evidence1:]\nAnswer: :evidence3:\n", false},
		{"after a prefix, another name", Limits{}, prefix, ":evidence3:", ":evidence4: = LLM[x]\nAnswer: :evidence4:\n", false},
		{"after a prefix, the answer cites it", Limits{}, prefix, ":evidence3:", ":evidence3: = LLM[x]\nAnswer: :evidence2:\n", true},
		{"after a prefix, the steps left", Limits{MaxSteps: 3}, prefix, ":evidence3:", ":evidence3: = LLM[x]\n:evidence4: = LLM[y]\nAnswer: :evidence4:\n", false},
		{"line separator, read as a line end", Limits{}, "", "", ":evidence0: = LLM[a\u2028Answer: b]\nAnswer: :evidence0:\n", true},
		{"after a prefix, hash names", Limits{}, prefix, "#E3", "#E3 = LLM[:evidence2:]\n#E4 = LLM[#E3]\nAnswer: #E4\n", true},
	}
	type group struct {
		grammar string
		idx     []int
	}
	groups := map[string]*group{}
	for i, c := range cases {
		g := mustGrammar(t, Options{Tools: tools, RequireAnswer: true, Limits: c.lim})
		s, err := g.Advance(g.Start(), c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		key := c.prefix + "\x00" + c.next + "\x00" + strconv.Quote(strings.TrimSpace(strings.ReplaceAll(fmtLimits(g.Limits()), " ", "")))
		if groups[key] == nil {
			groups[key] = &group{grammar: mustGBNF(t, g, s, c.next)}
		}
		groups[key].idx = append(groups[key].idx, i)
	}
	for _, gr := range groups {
		var texts []string
		for _, i := range gr.idx {
			texts = append(texts, cases[i].text)
		}
		got := xgrammar(t, gr.grammar, texts)
		for j, i := range gr.idx {
			c := cases[i]
			if got[j] != c.want {
				t.Errorf("%s: accepted = %v, want %v:\n%s", c.name, got[j], c.want, c.text)
			}
			_, perr := planparserParse(c.prefix+c.text, tools)
			switch {
			case gbnfUnsound[c.name] && perr == nil:
				t.Errorf("%s: listed as unsound, but planparser validates it", c.name)
			case got[j] && !gbnfUnsound[c.name] && perr != nil:
				t.Errorf("%s: accepted, but planparser finds: %v", c.name, perr)
			}
		}
	}
}

// gbnfUnsound are the cases the GBNF grammar accepts although planparser
// does not: the characters above U+007F it cannot keep out (see charClasses).
var gbnfUnsound = map[string]bool{"line separator, read as a line end": true}

func fmtLimits(l Limits) string { b, _ := json.Marshal(l); return string(b) }

// TestGBNFErrors: GBNF refuses what it cannot write.
func TestGBNFErrors(t *testing.T) {
	g := mustGrammar(t, Options{Tools: []string{"LLM"}, Limits: Limits{MaxSteps: 2}})
	mid, err := g.Advance(g.Start(), ":evidence0: = LLM[a")
	if err != nil {
		t.Fatal(err)
	}
	two, err := g.Advance(g.Start(), ":evidence0: = LLM[a]\n:evidence1: = LLM[b]\n")
	if err != nil {
		t.Fatal(err)
	}
	one, err := g.Advance(g.Start(), ":evidence0: = LLM[a]\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    State
		next string
	}{
		{"within a line", mid, ":evidence1:"},
		{"no step left", two, ":evidence2:"},
		{"a defined name", one, ":evidence0:"},
		{"a prefix without a next name", one, ""},
		{"not a name", g.Start(), ":evidence01:"},
		{"a name past 127", g.Start(), "#E128"},
	} {
		if _, err := g.GBNF(c.s, c.next); !errors.Is(err, ErrNoGBNF) {
			t.Errorf("%s: err = %v, want ErrNoGBNF", c.name, err)
		}
	}
	if _, err := g.GBNF(one, "#E0"); err != nil {
		t.Errorf("#E0 after :evidence0: is another name: %v", err)
	}
}

var (
	gbnfString  = regexp.MustCompile(`"(?:\\.|[^"\\])*"`)
	gbnfClass   = regexp.MustCompile(`\[(?:\\.|[^\]\\])*\]`)
	gbnfRule    = regexp.MustCompile(`^([a-zA-Z0-9-]+) ::= (.*)$`)
	gbnfWord    = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9-]*`)
	gbnfRepeat  = regexp.MustCompile(`\{(\d+),(\d+)\}`)
	gbnfEscapes = regexp.MustCompile(`\\(?:u[0-9A-F]{4}|U[0-9A-F]{8}|[tnr"\\\[\]-])`)
)

// checkDialect checks text against the limits of llama.cpp's GBNF reader: one
// rule a line, names of letters, digits and dashes, every rule used defined,
// repetitions of at most 1999, and only the escapes both it and xgrammar read.
func checkDialect(t *testing.T, text string) {
	t.Helper()
	defined := map[string]bool{}
	var bodies []string
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := gbnfRule.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a rule line: %q", line)
		}
		if defined[m[1]] {
			t.Fatalf("rule %s defined twice", m[1])
		}
		defined[m[1]] = true
		bodies = append(bodies, m[2])
	}
	if !defined["root"] {
		t.Fatal("no root rule")
	}
	for _, body := range bodies {
		for _, lit := range append(gbnfString.FindAllString(body, -1), gbnfClass.FindAllString(body, -1)...) {
			rest := gbnfEscapes.ReplaceAllString(lit, "")
			if strings.Contains(rest, `\`) {
				t.Fatalf("escape outside the common dialect in %s", lit)
			}
		}
		bare := gbnfClass.ReplaceAllString(gbnfString.ReplaceAllString(body, " "), " ")
		for _, m := range gbnfRepeat.FindAllStringSubmatch(bare, -1) {
			if n, _ := strconv.Atoi(m[2]); n > maxRepeat {
				t.Fatalf("repetition %s over %d", m[0], maxRepeat)
			}
		}
		bare = gbnfRepeat.ReplaceAllString(bare, " ")
		for _, w := range gbnfWord.FindAllString(bare, -1) {
			if !defined[w] {
				t.Fatalf("rule %s used, not defined, in %q", w, body)
			}
		}
	}
}

// TestGBNFDialect checks the grammars of several options against the dialect
// without node: these hold for every grammar GBNF writes.
func TestGBNFDialect(t *testing.T) {
	for _, lim := range []Limits{{}, {MaxDepth: 1, MaxWraps: 0}, {MaxInputBytes: 1 << 15, MaxLineBytes: 1 << 15, MaxSteps: 100}, {MaxSteps: 1}} {
		for _, req := range []bool{false, true} {
			g := mustGrammar(t, Options{Tools: corpusTools, RequireAnswer: req, Limits: lim})
			mustGBNF(t, g, g.Start(), "")
			mustGBNF(t, g, g.Start(), "#E1")
		}
	}
}

// BenchmarkGBNFXGrammar times xgrammar compiling the plan grammar over the
// LLaMA vocabulary (what vLLM does once for each new grammar) and computing a
// token mask, for the grammar of one numbering (a plan after gathered steps)
// and of the four (a first plan). It needs node and the npm package, as the
// tests do; run it with -benchtime=1x.
func BenchmarkGBNFXGrammar(b *testing.B) {
	node, err := exec.LookPath("node")
	if err != nil {
		b.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(xgrammarDir, "node_modules", "@mlc-ai", "web-xgrammar")); err != nil {
		b.Skip("xgrammar's npm package is not installed (npm ci in planner/constrain/testdata/gbnf)")
	}
	tok := llama(b)
	vocab := make([]string, tok.VocabSize())
	for i := range vocab {
		vocab[i] = tok.Piece(i)
	}
	g := mustGrammar(b, Options{Tools: corpusTools, RequireAnswer: true})
	for _, c := range []struct{ name, next string }{{"one-numbering", ":evidence0:"}, {"four-numberings", ""}} {
		b.Run(c.name, func(b *testing.B) {
			text, err := g.GBNF(g.Start(), c.next)
			if err != nil {
				b.Fatal(err)
			}
			in, err := json.Marshal(map[string]any{"grammar": text, "vocab": vocab, "eos": tok.EOS()})
			if err != nil {
				b.Fatal(err)
			}
			f := filepath.Join(b.TempDir(), "in.json")
			if err := os.WriteFile(f, in, 0o644); err != nil {
				b.Fatal(err)
			}
			var compile, mask float64
			for b.Loop() {
				out, err := exec.Command(node, filepath.Join(xgrammarDir, "compile.mjs"), f).Output()
				if err != nil {
					b.Fatal(err)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				var r struct {
					CompileMS float64 `json:"compile_ms"`
					MaskMS    float64 `json:"mask_ms"`
				}
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
					b.Fatalf("compile.mjs answered %.200q: %v", lines[len(lines)-1], err)
				}
				compile, mask = r.CompileMS, r.MaskMS
			}
			b.ReportMetric(compile, "compile-ms")
			b.ReportMetric(mask, "mask-ms")
			b.ReportMetric(float64(len(text)), "grammar-bytes")
		})
	}
}

// BenchmarkGBNF times writing the grammar, which the planner does for every
// plan a server writes.
func BenchmarkGBNF(b *testing.B) {
	g := mustGrammar(b, Options{Tools: corpusTools, RequireAnswer: true})
	for b.Loop() {
		if _, err := g.GBNF(g.Start(), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzGBNF writes the grammar after any prefix of whole lines the automaton
// admits and any first name: it never panics, what it writes keeps to the
// GBNF dialect, and a name it takes reads back as itself.
func FuzzGBNF(f *testing.F) {
	for _, p := range corpus(f) {
		lines := strings.SplitAfter(p.src, "\n")
		for i := range lines {
			f.Add(strings.Join(lines[:i], ""), ":evidence"+strconv.Itoa(i)+":")
		}
		f.Add(p.src, "#E9")
	}
	f.Add("", "")
	f.Add("", "#E0")
	g := mustGrammar(f, Options{Tools: corpusTools, RequireAnswer: true, Limits: Limits{MaxSteps: 6}})
	f.Fuzz(func(t *testing.T, prefix, next string) {
		if st, n, ok := parseName(next); ok && nameOf(st, n) != next {
			t.Fatalf("parseName(%q) = %d, %d: reads back as %q", next, st, n, nameOf(st, n))
		}
		s, err := g.Advance(g.Start(), prefix)
		if err != nil {
			return
		}
		text, err := g.GBNF(s, next)
		if err != nil {
			if !errors.Is(err, ErrNoGBNF) {
				t.Fatalf("GBNF: %v, not ErrNoGBNF", err)
			}
			return
		}
		checkDialect(t, text)
	})
}
