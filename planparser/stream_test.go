package planparser

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
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
				norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(in.src)
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
