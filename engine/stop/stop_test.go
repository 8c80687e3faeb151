package stop

import (
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		want    []string // what each Add returns, then Flush's result
		stopped bool
		text    string
	}{
		{"no stops", nil, []string{"a", "bc"}, []string{"a", "bc", ""}, false, "abc"},
		{"stop inside a piece", []string{"\nObs"}, []string{"Plan: x\nObs: y"},
			[]string{"Plan: x"}, true, "Plan: x"},
		{"stop across pieces is held back then cut", []string{"\nObs"}, []string{"Plan", ": x\n", "Ob", "s: y"},
			[]string{"Plan", ": x", "", ""}, true, "Plan: x"},
		{"held text that does not become a stop is released", []string{"\nObs"}, []string{"a\n", "Ob", "x"},
			[]string{"a", "", "\nObx", ""}, false, "a\nObx"},
		{"held text released at the end", []string{"END"}, []string{"fin", "EN"},
			[]string{"fin", "", "EN"}, false, "finEN"},
		{"stop at the very start", []string{"A"}, []string{"Abc"}, []string{""}, true, ""},
		{"first occurrence of any stop wins", []string{"world", "o"}, []string{"hello world"},
			[]string{"hell"}, true, "hell"},
		{"shorter stop completing first wins", []string{"abc", "b"}, []string{"a", "b"},
			[]string{"", "a"}, true, "a"},
		{"overlapping prefix", []string{"aab"}, []string{"a", "a", "a", "b"},
			[]string{"", "", "a", ""}, true, "a"},
		{"multibyte stop", []string{"é!"}, []string{"caf", "é", "!"}, []string{"caf", "", ""}, true, "caf"},
		{"stop ends the pieces", []string{"x"}, []string{"ax", "more"}, []string{"a"}, true, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.stops)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			stopped := false
			for _, p := range tt.pieces {
				out, s := m.Add(p)
				got = append(got, out)
				stopped = stopped || s
				if s {
					break
				}
			}
			if !stopped {
				got = append(got, m.Flush())
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("outputs %q, want %q", got, tt.want)
			}
			if stopped != tt.stopped {
				t.Errorf("stopped %v, want %v", stopped, tt.stopped)
			}
			if m.Text() != tt.text || strings.Join(got, "") != tt.text {
				t.Errorf("Text() %q, outputs joined %q, want %q", m.Text(), strings.Join(got, ""), tt.text)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, stops := range [][]string{{""}, {"ok", ""}, {"\xff"}} {
		if _, err := New(stops); err == nil {
			t.Errorf("New(%q) accepted", stops)
		}
	}
}

// FuzzMatcher checks, for any split of any text, that the emitted text is the text
// up to the first stop string and never contains one.
func FuzzMatcher(f *testing.F) {
	f.Add("Plan: x\nObservation: y", "\nObservation", uint8(3))
	f.Add("aaab", "aab", uint8(1))
	f.Fuzz(func(t *testing.T, text, stopStr string, step uint8) {
		m, err := New([]string{stopStr})
		if err != nil {
			return
		}
		n := int(step)%7 + 1
		var out strings.Builder
		stopped := false
		for i := 0; i < len(text) && !stopped; i += n {
			s, st := m.Add(text[i:min(i+n, len(text))])
			out.WriteString(s)
			stopped = st
		}
		if !stopped {
			out.WriteString(m.Flush())
		}
		want := text
		if i := strings.Index(text, stopStr); i >= 0 {
			want = text[:i]
		}
		if out.String() != want || m.Text() != want {
			t.Fatalf("emitted %q (Text %q), want %q", out.String(), m.Text(), want)
		}
		if stopped != strings.Contains(text, stopStr) {
			t.Fatalf("stopped %v", stopped)
		}
	})
}

func TestAfterStop(t *testing.T) {
	m, _ := New([]string{"x"})
	if out, st := m.Add("axb"); out != "a" || !st {
		t.Fatalf("Add = %q, %v", out, st)
	}
	if out, st := m.Add("more"); out != "" || !st {
		t.Errorf("Add after the stop = %q, %v, want \"\", true", out, st)
	}
	if out := m.Flush(); out != "" || m.Text() != "a" {
		t.Errorf("Flush after the stop = %q, Text %q", out, m.Text())
	}
}
