package planparser

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStreamChunking feeds every corpus plan in chunks of several sizes and checks
// the result equals parsing it whole, and that each step came out no later than
// the chunk that completed its line.
func TestStreamChunking(t *testing.T) {
	for _, in := range corpus(t) {
		whole, wholeErr := Parse(in.src, Options{Tools: corpusTools})
		for _, size := range []int{1, 2, 3, 7, 64} {
			t.Run(fmt.Sprintf("%s/%d", in.name, size), func(t *testing.T) {
				s := NewStream(Options{Tools: corpusTools})
				norm := Normalize(in.src)
				written := 0 // bytes of norm fed so far, approximately (CR pairs shrink)
				var emitted []*Step
				for i := 0; i < len(in.src); i += size {
					chunk := in.src[i:min(i+size, len(in.src))]
					written += len(chunk)
					for _, st := range s.Write(chunk) {
						// The step's line must be complete in what was written.
						lineEnd := strings.IndexByte(norm[st.InputPos.Offset:], '\n')
						if lineEnd >= 0 && st.InputPos.Offset+lineEnd >= written {
							t.Errorf("%s came out before its line ended", st.Name)
						}
						emitted = append(emitted, st)
					}
				}
				p, err := s.Close()
				if summary(p) != summary(whole) {
					t.Errorf("streamed plan differs:\n%s\nvs\n%s", summary(p), summary(whole))
				}
				if fmt.Sprint(err) != fmt.Sprint(wholeErr) {
					t.Errorf("diagnostics differ:\n%v\nvs\n%v", err, wholeErr)
				}
				if wholeErr == nil && len(emitted) != len(whole.Steps) {
					t.Errorf("emitted %d steps, plan has %d", len(emitted), len(whole.Steps))
				}
			})
		}
	}
}

// TestStreamEmitsEarly checks a step is handed out when its line ends, before the
// rest of the plan exists, and that invalid steps and their dependants are held back.
func TestStreamEmitsEarly(t *testing.T) {
	s := NewStream(Options{Tools: []string{"Search", "LLM"}})
	steps := func(chunk string) []string {
		var names []string
		for _, st := range s.Write(chunk) {
			names = append(names, st.Name)
		}
		return names
	}
	tests := []struct {
		chunk string
		want  []string
	}{
		{"Plan: go\n#E1 = Sea", nil},
		{"rch[a [b", nil},
		{"] c]", nil},
		{"\n", []string{"#E1"}},
		{"#E2 = Search[x]\n#E3 = LLM[#E1 #E2]\n#E4 = Nope[", []string{"#E2", "#E3"}},
		{"#E1]\n#E5 = LLM[#E4]\n#E6 = LLM[#E1", nil},
		{"]", nil},
	}
	for i, tt := range tests {
		if got := steps(tt.chunk); !slices.Equal(got, tt.want) {
			t.Errorf("chunk %d %q: got steps %v, want %v", i, tt.chunk, got, tt.want)
		}
	}
	p, err := s.Close()
	if err == nil || !strings.Contains(err.Error(), `unknown tool "Nope"`) {
		t.Errorf("Close error = %v, want the unknown tool", err)
	}
	if len(p.Steps) != 6 {
		t.Errorf("plan has %d steps, want 6", len(p.Steps))
	}
	if s.Write("#E7 = LLM[x]\n") != nil {
		t.Error("Write after Close returned steps")
	}
}

// TestCRSplitAcrossChunks checks a CRLF split between two chunks counts as one line end.
func TestCRSplitAcrossChunks(t *testing.T) {
	s := NewStream(Options{})
	if got := s.Write("#E1 = A[x]\r"); len(got) != 0 {
		t.Errorf("step out before its line end was known: %v", got)
	}
	if got := s.Write("\n#E2 = B[#E1]\r"); len(got) != 1 || got[0].Name != "#E1" {
		t.Errorf("got %v, want #E1", got)
	}
	p, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if p.Steps[1].Pos.Line != 2 || p.Steps[1].Pos.Offset != 11 {
		t.Errorf("#E2 at %s offset %d, want line 2 offset 11", p.Steps[1].Pos, p.Steps[1].Pos.Offset)
	}
}

func TestDiagnosticsError(t *testing.T) {
	_, err := Parse("#E1 = A[#E2]\n#E1 = Q[x]\n", Options{Tools: []string{"A"}})
	var ds Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("error %T, want Diagnostics", err)
	}
	want := "1:9: reference to undefined evidence #E2\n" +
		"2:1: duplicate evidence name #E1 (first defined at 1:1)"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
}

// TestHostileInputs checks that inputs built to be slow or deep end promptly with a
// clear result: deep nesting used to overflow the stack (a fatal error, not a panic)
// and long runs of brackets took time quadratic in the line's length.
func TestHostileInputs(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // a diagnostic, or "" for a valid plan
	}{
		{"deep", "#E1 = A[" + strings.Repeat("[", 200000) + "x" + strings.Repeat("]", 200000) + "]\n",
			`1:108: brackets nested more than 100 deep`},
		{"deep unclosed", "#E1 = A[" + strings.Repeat("[", 200000) + "x\n", `1:8: unclosed "[" (no matching "]")`},
		{"deep then valid", "#E1 = A[" + strings.Repeat("[", 101) + strings.Repeat("]", 102) + "\n#E2 = A[#E1]\n#E3 = A[y]\n",
			`1:108: brackets nested more than 100 deep`},
		{"nested 100", "#E1 = A[" + strings.Repeat("[", 99) + strings.Repeat("]", 100) + "\n", ""},
		{"many pairs", "#E1 = A[" + strings.Repeat("[a] ", 50000) + "]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			var p *Plan
			go func() {
				var err error
				p, err = Parse(tt.src, Options{Tools: []string{"A"}})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Parse did not end in 30s")
			}
			if tt.want == "" {
				if err != nil || len(p.Steps) != 1 {
					t.Errorf("got %d steps, error %v; want one step", len(p.Steps), err)
				}
				return
			}
			var ds Diagnostics
			if !errors.As(err, &ds) || ds[0].Error() != tt.want {
				t.Errorf("got %v, want first diagnostic %q", err, tt.want)
			}
			if tt.name == "deep then valid" && len(ds) != 1 {
				t.Errorf("got %v, want one diagnostic: none for the reference to the broken step", err)
			}
		})
	}
}

// TestUnicodeSpaces reads a byte order mark and Unicode spaces as the plain text
// they stand for: such a plan once had "no steps", and one whose lines a line
// separator ended lost its Answer line.
func TestUnicodeSpaces(t *testing.T) {
	tests := []struct {
		name, src string
	}{
		{"BOM", "\ufeff:evidence0: = DuckDuckGo[a b]\nAnswer: :evidence0:\n"},
		{"no-break spaces", ":evidence0:\u00a0=\u00a0DuckDuckGo[a\u00a0b]\nAnswer:\u00a0:evidence0:\n"},
		{"em and thin spaces", "\u2003:evidence0: =\u2009DuckDuckGo\u2002[a\u200ab]\nAnswer: :evidence0:\n"},
		{"ideographic and narrow spaces", ":evidence0:\u3000=\u202fDuckDuckGo[a\u205fb]\nAnswer: :evidence0:\n"},
		{"zero-width inside", ":evidence0: = Duck\ufeffDuck\u200bGo[a b]\r\n\ufeffAnswer: :evidence0:\n"},
		{"line and paragraph separators", "Plan: search\u2028:evidence0: = DuckDuckGo[a b]\u2029Answer: :evidence0:\u2028"},
		{"next line", "Plan: search\u0085:evidence0: = DuckDuckGo[a b]\u0085Answer: :evidence0:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{1, 2, len(tt.src)} {
				s := NewStream(Options{Tools: []string{"DuckDuckGo"}})
				for i := 0; i < len(tt.src); i += size {
					s.Write(tt.src[i:min(i+size, len(tt.src))])
				}
				p, err := s.Close()
				if err != nil {
					t.Fatalf("chunks of %d: %v", size, err)
				}
				if len(p.Steps) != 1 || p.Steps[0].Tool != "DuckDuckGo" || p.Steps[0].Input != "a b" || p.Answer == nil || len(p.Answer.Refs) != 1 {
					t.Errorf("chunks of %d: %s", size, summary(p))
				}
			}
		})
	}
	// Columns count the characters as written, a Unicode space as one.
	_, err := Parse("#E1\u00a0=\u3000Nope[x]", Options{Tools: []string{"A"}})
	if want := `1:7: unknown tool "Nope" (available: A)`; err == nil || err.Error() != want {
		t.Errorf("diagnostic %v, want %s", err, want)
	}
	// A character cut at the end stays as it was, never lost.
	if got := Normalize("a\u00a0\xc2"); got != "a \xc2" {
		t.Errorf("Normalize kept %q", got)
	}
}
