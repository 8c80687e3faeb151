package planparser

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// corpusTools are the tools the plans in testdata may call: the seed model card's
// and the ReWOO paper's.
var corpusTools = []string{"DuckDuckGo", "KnowledgeModel", "TextScraper", "HyperlinkExtractor", "Wikipedia", "LLM"}

// render is what a golden file holds for a plan: its diagnostics, its canonical form,
// its JSON and its DOT graph.
func render(t *testing.T, src string) string {
	t.Helper()
	p, err := Parse(src, Options{Tools: corpusTools})
	var b strings.Builder
	b.WriteString("-- diagnostics --\n")
	if err != nil {
		var ds Diagnostics
		if !errors.As(err, &ds) {
			t.Fatalf("error %T is not Diagnostics: %v", err, err)
		}
		b.WriteString(ds.Error() + "\n")
	}
	b.WriteString("-- canonical --\n")
	b.WriteString(p.String())
	b.WriteString("-- json --\n")
	js, jerr := json.MarshalIndent(p, "", "  ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	b.Write(js)
	b.WriteString("\n-- dot --\n")
	if derr := p.WriteDOT(&b); derr != nil {
		t.Fatal(derr)
	}
	return b.String()
}

// TestGolden parses every plan in testdata and compares diagnostics, canonical
// form, JSON and DOT with the .golden file beside it (refresh with -update).
// Files named bad_* must have diagnostics; the others must have none.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.plan")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no plans in testdata: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".plan")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, string(src))
			hasDiags := !strings.HasPrefix(got, "-- diagnostics --\n-- canonical --")
			if bad := strings.HasPrefix(name, "bad_"); bad != hasDiags {
				t.Errorf("diagnostics present = %v, want %v:\n%s", hasDiags, bad, got)
			}
			golden := strings.TrimSuffix(in, ".plan") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestCanonicalRoundTrip checks that every valid plan in testdata prints to a form
// that parses back to the same steps and answer.
func TestCanonicalRoundTrip(t *testing.T) {
	for _, in := range corpus(t) {
		t.Run(in.name, func(t *testing.T) {
			p, err := Parse(in.src, Options{Tools: corpusTools})
			if err != nil {
				t.Skip("plan has diagnostics")
			}
			q, err := Parse(p.String(), Options{Tools: corpusTools})
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%s", err, p.String())
			}
			if a, b := summary(p), summary(q); a != b {
				t.Errorf("round trip changed the plan:\n%s\nvs\n%s", a, b)
			}
		})
	}
}

type corpusPlan struct{ name, src string }

func corpus(t testing.TB) []corpusPlan {
	t.Helper()
	inputs, err := filepath.Glob("testdata/*.plan")
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusPlan
	for _, in := range inputs {
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusPlan{strings.TrimSuffix(filepath.Base(in), ".plan"), string(src)})
	}
	return out
}

// summary is the meaning of a plan without positions.
func summary(p *Plan) string {
	var b bytes.Buffer
	for _, s := range p.Steps {
		note := ""
		if s.Plan != nil {
			note = s.Plan.Text
		}
		fmt.Fprintf(&b, "%s|%s|%q|%v|%q\n", s.Name, s.Tool, s.Input, s.Deps, note)
	}
	if p.Answer != nil {
		fmt.Fprintf(&b, "answer %q %v\n", p.Answer.Text, p.Answer.Cites())
	}
	return b.String()
}
