package planparser

import "testing"

func TestSummary(t *testing.T) {
	for src, want := range map[string]string{
		"Plan: a\n#E1 = T[x]\nPlan: b\n#E2 = T[#E1]\n#E3 = T[y]\nAnswer: #E2 and #E3": "3 steps in 2 levels, answer cites #E2, #E3",
		"#E1 = T[x]\nAnswer: nothing": "1 steps in 1 levels, answer cites no evidence",
		"#E1 = T[x]":                  "1 steps in 1 levels, no answer line",
	} {
		p, err := Parse(src, Options{})
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := p.Summary(); got != want {
			t.Errorf("%q: Summary() = %q, want %q", src, got, want)
		}
	}
}
