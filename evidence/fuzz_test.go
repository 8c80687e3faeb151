package evidence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rewoo-agent/agent/planparser"
)

// seeds returns the step inputs and answers of the plans in testdata: the texts
// substitution and trimming meet.
func seeds(f *testing.F) []string {
	files, err := filepath.Glob("testdata/*.plan")
	if err != nil || len(files) == 0 {
		f.Fatalf("no plans in testdata: %v", err)
	}
	var out []string
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(src))
		p, _ := planparser.Parse(string(src), planparser.Options{})
		for _, s := range p.Steps {
			out = append(out, s.Input)
		}
		if p.Answer != nil {
			out = append(out, p.Answer.Text)
		}
	}
	return out
}

// FuzzSubstitute checks, for any text, evidence and limit, that substitution
// keeps the text around the references, reports each bad reference once, and
// fails with ErrTooLarge exactly when the unbounded text would pass the limit
// (a text without references is never refused), building nothing then. Seeded from the plans in testdata.
func FuzzSubstitute(f *testing.F) {
	for i, s := range seeds(f) {
		f.Add(s, "Louise Glück", 1<<(i%24)-1)
	}
	f.Add("#E1#E1:evidence1::evidence10:#E2 #E9", "#E1", 3)
	f.Fuzz(func(t *testing.T, s, text string, limit int) {
		vals := map[string]*Value{
			"#E1":          {Name: "#E1", Text: text},
			":evidence1:":  {Name: ":evidence1:", Text: text + text},
			":evidence10:": {Name: ":evidence10:", Text: ""},
			"#E2":          {Name: "#E2", Status: Failed, Err: errors.New("rate limited")},
			"#E3":          {Name: "#E3", Status: Skipped, Reason: "depends on #E2, which failed"},
		}
		get := func(n string) *Value { return vals[n] }
		whole, bad, err := Substitute(s, get, -1)
		if err != nil {
			t.Fatalf("unbounded: %v", err)
		}
		spans := planparser.FindRefs(s)
		if len(spans) == 0 {
			if whole != s || bad != nil {
				t.Fatalf("no references, yet %q became %q (%v)", s, whole, bad)
			}
		} else {
			first, last := spans[0], spans[len(spans)-1]
			if !strings.HasPrefix(whole, s[:first[0]]) || !strings.HasSuffix(whole, s[last[1]:]) {
				t.Errorf("the text around the references changed: %q -> %q", s, whole)
			}
			size := len(s)
			for _, sp := range spans {
				name := s[sp[0]:sp[1]]
				if v := vals[name]; v != nil {
					size += len(v.Content()) - len(name)
				}
			}
			if len(whole) != size {
				t.Errorf("%d bytes, want %d", len(whole), size)
			}
		}
		seen := map[string]bool{}
		for _, name := range bad {
			v := vals[name]
			if seen[name] || !strings.Contains(s, name) || (v != nil && v.Ok()) {
				t.Errorf("bad lists %q wrongly: %v", name, bad)
			}
			seen[name] = true
		}
		got, bad2, err := Substitute(s, get, limit)
		switch {
		case limit >= 0 && len(whole) > limit && len(spans) > 0:
			if !errors.Is(err, ErrTooLarge) || got != "" || !strings.Contains(err.Error(), fmt.Sprintf("make %d bytes", len(whole))) {
				t.Errorf("limit %d, %d bytes: %q, %v", limit, len(whole), got, err)
			}
		case err != nil || got != whole || !slices.Equal(bad, bad2):
			t.Errorf("limit %d, %d bytes: %q, %v", limit, len(whole), got, err)
		}
	})
}

var trimMarkerRE = regexp.MustCompile(` \[…(\d+) bytes trimmed\]$`)

// FuzzTrim checks that any text trimmed to any budget fits it, is whole
// characters of the text's start (when the text is UTF-8), and that the marker
// counts exactly the bytes cut. Seeded from the plans in testdata.
func FuzzTrim(f *testing.F) {
	for i, s := range seeds(f) {
		f.Add(s, i*7%len(s+" "))
	}
	f.Add(strings.Repeat("é", 40), 23)
	f.Add("word word word word word word word word", -1)
	f.Fuzz(func(t *testing.T, s string, budget int) {
		got := Trim(s, budget)
		if len(s) <= budget {
			if got != s {
				t.Fatalf("text within budget changed: %q -> %q", s, got)
			}
			return
		}
		if len(got) > max(budget, 0) {
			t.Errorf("%d bytes over the budget %d", len(got), budget)
		}
		kept := got
		if m := trimMarkerRE.FindStringSubmatch(got); m != nil && strings.HasPrefix(s, got[:len(got)-len(m[0])]) {
			kept = got[:len(got)-len(m[0])]
			if n, _ := strconv.Atoi(m[1]); len(kept)+n != len(s) {
				t.Errorf("kept %d bytes and says %s were trimmed of %d", len(kept), m[1], len(s))
			}
		}
		if !strings.HasPrefix(s, kept) {
			t.Errorf("%q is not the start of the text", kept)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("cut inside a character: %q", got)
		}
	})
}
