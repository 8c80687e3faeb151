package planparser

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDiagnosticsErrorIsBounded(t *testing.T) {
	var ds Diagnostics
	for i := range MaxReported + 42 {
		ds = append(ds, Diagnostic{Pos: Position{Line: i + 1, Column: 1}, Msg: "bad"})
	}
	lines := strings.Split(ds.Error(), "\n")
	if len(lines) != MaxReported+1 {
		t.Fatalf("%d lines, want %d diagnostics and a count", len(lines), MaxReported)
	}
	if lines[0] != "1:1: bad" || lines[MaxReported-1] != fmt.Sprintf("%d:1: bad", MaxReported) {
		t.Errorf("first and last listed: %q, %q", lines[0], lines[MaxReported-1])
	}
	if last := lines[MaxReported]; last != "... and 42 more problems" {
		t.Errorf("last line %q", last)
	}
	if got := ds[:3].Error(); got != "1:1: bad\n2:1: bad\n3:1: bad" {
		t.Errorf("a short list: %q", got)
	}
}

// TestDiagnosticLinesAreBounded gives plans with megabyte-long lines: every
// diagnostic is still one short line, and still says what is wrong.
func TestDiagnosticLinesAreBounded(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name, src, want string
	}{
		{"tool name", "#E1 = Search" + huge + "[a]", `unknown tool "Searchxxx`},
		{"text after the step", "#E1 = A[a] ]" + huge, "unexpected"},
		{"syntax", "#E1 = = = " + strings.Repeat("= ", 1<<19), "1:"},
		{"unclosed", "#E1 = A[" + huge, `unclosed "["`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.src, Options{Tools: []string{"A"}})
			var ds Diagnostics
			if !errors.As(err, &ds) || len(ds) == 0 {
				t.Fatalf("err %v", err)
			}
			for _, d := range ds {
				line := d.Error()
				if n := utf8.RuneCountInString(line); n > MaxMessage+20 || strings.Contains(line, "\n") {
					t.Errorf("a diagnostic line of %d characters: %.80q", n, line)
				}
				if !strings.Contains(line, tt.want) {
					t.Errorf("%.300q lacks %q", line, tt.want)
				}
			}
		})
	}
	if got := (Diagnostic{Pos: Position{Line: 1, Column: 1}, Msg: "a\nb"}).Error(); got != `1:1: a\nb` {
		t.Errorf("a message with a line break: %q", got)
	}
}
