package input

import (
	"strings"
	"testing"
)

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes ": true, "n\n": false, "\n": false, "": false, "yesno\n": false} {
		var w strings.Builder
		if got := Confirm(strings.NewReader(in), &w, "remove x?"); got != want {
			t.Errorf("Confirm(%q) = %v, want %v", in, got, want)
		}
		if w.String() != "remove x? [y/N] " {
			t.Errorf("asked %q", w.String())
		}
	}
}
