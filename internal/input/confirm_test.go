package input

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, " yes ": true, "n\n": false, "\n": false, "": false, "yesno\n": false} {
		var w strings.Builder
		if got, err := Confirm(context.Background(), strings.NewReader(in), &w, "remove x?"); got != want || err != nil {
			t.Errorf("Confirm(%q) = %v, %v; want %v", in, got, err, want)
		}
		if w.String() != "remove x? [y/N] " {
			t.Errorf("asked %q", w.String())
		}
	}
}

// TestConfirmInterrupt: Ctrl-C while the question waits ends it, a no.
func TestConfirmInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, w := io.Pipe()
	defer r.Close()
	defer w.Close()
	var out strings.Builder
	if ok, err := Confirm(ctx, r, &out, "run it?"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Confirm = %v, %v; want false, context.Canceled", ok, err)
	}
	if out.String() != "run it? [y/N] \n" {
		t.Errorf("wrote %q", out.String())
	}
}

// TestIsTerminal: readers that are no terminal, a file and a pipe among them.
func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for name, r := range map[string]io.Reader{"nil": nil, "buffer": strings.NewReader(""), "file": f, "pipe": pr} {
		if IsTerminal(r) {
			t.Errorf("%s: a terminal", name)
		}
	}
}
