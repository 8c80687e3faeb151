package planparser

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that no text makes the parser panic or hang, that diagnostics
// are sorted and point inside the text, that a split into two chunks parses the
// same as the whole, that the grammar's references are exactly FindRefs', and that
// a valid plan survives canonical printing. Seeded from testdata.
func FuzzParse(f *testing.F) {
	for _, in := range corpus(f) {
		f.Add(in.src, uint(len(in.src)/2))
	}
	f.Add("#E1 = A[[[[", uint(3))
	f.Add(":evidence0: = [[A[x]]] ]", uint(5))
	f.Add("\ufeff#E1\u00a0=\u3000A[x\u2009y]\r\ufeff\nAnswer:\u202f#E1", uint(4))
	f.Fuzz(func(t *testing.T, src string, split uint) {
		opts := Options{Tools: []string{"A", "DuckDuckGo", "KnowledgeModel"}}
		p, err := Parse(src, opts)
		norm := Normalize(src)
		lines := strings.Count(norm, "\n") + 1
		var ds Diagnostics
		if err != nil {
			ds = err.(Diagnostics)
		}
		if !slices.IsSortedFunc(ds, func(a, b Diagnostic) int { return a.Pos.Line - b.Pos.Line }) {
			t.Errorf("diagnostics not sorted: %v", ds)
		}
		for _, d := range ds {
			if d.Pos.Line < 1 || d.Pos.Line > lines || d.Pos.Column < 1 {
				t.Errorf("diagnostic outside the text: %v", d)
			}
		}
		for _, s := range p.Steps {
			if !strings.HasPrefix(norm[s.Pos.Offset:], s.Name) {
				t.Errorf("step %s: offset %d does not point at its name", s.Name, s.Pos.Offset)
			}
			var names []string
			for _, r := range FindRefs(s.Input) {
				names = append(names, s.Input[r[0]:r[1]])
			}
			var refs []string
			for _, r := range s.Refs {
				refs = append(refs, r.Name)
			}
			if !slices.Equal(names, refs) {
				t.Errorf("step %s: grammar refs %v, FindRefs %v", s.Name, refs, names)
			}
		}
		if n, nerr := Parse(norm, opts); summary(n) != summary(p) || errString(nerr) != errString(err) {
			t.Errorf("the normalised text parses differently:\n%s%v\nvs\n%s%v", summary(p), err, summary(n), nerr)
		}
		if Normalize(norm) != norm {
			t.Errorf("Normalize is not idempotent on %q", src)
		}
		at := int(split % uint(len(src)+1))
		st := NewStream(opts)
		st.Write(src[:at])
		st.Write(src[at:])
		q, qerr := st.Close()
		if summary(p) != summary(q) || errString(err) != errString(qerr) {
			t.Errorf("split at %d changed the result:\n%s%v\nvs\n%s%v", at, summary(p), err, summary(q), qerr)
		}
		if err == nil && utf8.ValidString(src) {
			r, rerr := Parse(p.String(), opts)
			if rerr != nil || summary(r) != summary(p) {
				t.Errorf("canonical form does not round-trip (%v):\n%s", rerr, p.String())
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
