package planparser

import (
	"fmt"
	"strings"
	"testing"
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
