package evidence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSubstitute(t *testing.T) {
	vals := map[string]*Value{
		":evidence1:":  {Name: ":evidence1:", Text: "one"},
		":evidence10:": {Name: ":evidence10:", Text: "ten"},
		"#E1":          {Name: "#E1", Text: "E-one"},
		"#E10":         {Name: "#E10", Text: "E-ten"},
		"#E2":          {Name: "#E2", Status: Failed, Err: errors.New("rate limited")},
		"#E3":          {Name: "#E3", Status: Skipped, Reason: "depends on #E2, which failed"},
	}
	get := func(n string) *Value { return vals[n] }
	tests := []struct {
		name, in, want string
		bad            []string
	}{
		{"no refs", "plain text", "plain text", nil},
		{"colon style", "a :evidence1: b", "a one b", nil},
		{"longer name not matched by shorter", ":evidence10: :evidence1:", "ten one", nil},
		{"hash style", "#E10 and #E1", "E-ten and E-one", nil},
		{"adjacent", "#E1#E10:evidence1::evidence10:", "E-oneE-tenoneten", nil},
		{"not a whole reference", ":evidence1 and evidence1: and #e1", ":evidence1 and evidence1: and #e1", nil},
		{"unknown kept", "see :evidence7: and #E1", "see :evidence7: and E-one", []string{":evidence7:"}},
		{"failed", "x #E2 y #E2", "x (no evidence: #E2 failed: rate limited) y (no evidence: #E2 failed: rate limited)", []string{"#E2"}},
		{"skipped", "#E3", "(no evidence: #E3 was skipped: depends on #E2, which failed)", []string{"#E3"}},
		{"text that looks like a reference is not rescanned", "#E1", "E-one", nil},
	}
	vals["#E1"].Text = "E-one"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad, err := Substitute(tt.in, get, -1)
			if got != tt.want || !slices.Equal(bad, tt.bad) || err != nil {
				t.Errorf("Substitute(%q) = %q, %v; want %q, %v", tt.in, got, bad, tt.want, tt.bad)
			}
		})
	}
	// Evidence whose text holds a reference must not be substituted again.
	vals[":evidence1:"].Text = "#E10"
	if got, _, _ := Substitute(":evidence1: #E1", get, -1); got != "#E10 E-one" {
		t.Errorf("substituted text was rescanned: %q", got)
	}
}

func TestSubstituteLimit(t *testing.T) {
	vals := map[string]*Value{"#E1": {Name: "#E1", Text: "0123456789"}}
	get := func(n string) *Value { return vals[n] }
	tests := []struct {
		in    string
		limit int
		want  string
		err   bool
	}{
		{"a #E1", -1, "a 0123456789", false},
		{"a #E1", 12, "a 0123456789", false},
		{"a #E1", 11, "", true},
		{"no references at all, longer than the limit", 3, "no references at all, longer than the limit", false},
		{"#E1 #E1 #E1", 32, "0123456789 0123456789 0123456789", false},
		{"#E1 #E1 #E1", 31, "", true},
		{"#E1", 0, "", true},
		{"", 0, "", false},
	}
	for _, tt := range tests {
		got, _, err := Substitute(tt.in, get, tt.limit)
		if got != tt.want || (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrTooLarge)) {
			t.Errorf("Substitute(%q, %d) = %q, %v", tt.in, tt.limit, got, err)
		}
	}
}

func TestTrim(t *testing.T) {
	long := strings.Repeat("word ", 100) // 500 bytes
	tests := []struct {
		name   string
		in     string
		budget int
	}{
		{"fits", "short", 10},
		{"exact", "exact", 5},
		{"cut at a space", long, 100},
		{"multibyte", strings.Repeat("é", 100), 51},
		{"budget below the marker", long, 8},
		{"zero", long, 0},
		{"negative", long, -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Trim(tt.in, tt.budget)
			if len(got) > max(tt.budget, 0) && len(tt.in) > tt.budget {
				t.Errorf("len %d over budget %d: %q", len(got), tt.budget, got)
			}
			if len(tt.in) <= tt.budget && got != tt.in {
				t.Errorf("text within budget changed: %q", got)
			}
			if !utf8.ValidString(got) {
				t.Errorf("cut inside a character: %q", got)
			}
			if len(tt.in) > tt.budget && tt.budget > 30 && !strings.Contains(got, "bytes trimmed]") {
				t.Errorf("no marker: %q", got)
			}
		})
	}
	if got := Trim(long, 100); !strings.HasPrefix(got, "word word") || !strings.HasSuffix(got, " […426 bytes trimmed]") {
		t.Errorf("Trim(long, 100) = %q", got)
	}
}

func TestPathLine(t *testing.T) {
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("#E%d", i)
	}
	long := "#E" + strings.Repeat("9", 100000)
	tests := []struct {
		path []string
		want string
	}{
		{nil, ""},
		{[]string{"#E1"}, "#E1"},
		{[]string{":evidence0:", ":evidence1:"}, ":evidence0: -> :evidence1:"},
		{many[:8], "#E0 -> #E1 -> #E2 -> #E3 -> #E4 -> #E5 -> #E6 -> #E7"},
		{many[:9], "#E0 -> #E1 -> #E2 -> #E3 -> (1 more) -> #E5 -> #E6 -> #E7 -> #E8"},
		{many, "#E0 -> #E1 -> #E2 -> #E3 -> (992 more) -> #E996 -> #E997 -> #E998 -> #E999"},
		{[]string{long, "#E1"}, "#E" + strings.Repeat("9", 27) + "… -> #E1"},
	}
	for _, tt := range tests {
		if got := PathLine(tt.path); got != tt.want {
			t.Errorf("PathLine(%d names) = %q, want %q", len(tt.path), got, tt.want)
		}
	}
	if n := len(PathLine(slices.Repeat([]string{long}, 1000))); n > MaxPathNames*(MaxNameBytes+4)+20 {
		t.Errorf("a path of 1000 long names gives a line of %d bytes", n)
	}
}
