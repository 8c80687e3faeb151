package hub

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		arg   string
		whole bool
		want  Target
		str   string
		err   string
	}{
		{"org/m", false, Target{"org/m", "main", true}, "org/m", ""},
		{"org/m:gptq-4bit", false, Target{"org/m", "gptq-4bit", false}, "org/m:gptq-4bit", ""},
		{"org/m", true, Target{"org/m", "", true}, "org/m (every branch)", ""},
		{"org/m:main", true, Target{}, "", "names a revision"},
		{"not a ref", false, Target{}, "", "not a ref"},
	} {
		got, err := ParseTarget(tt.arg, tt.whole)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTarget(%q, %v) = %+v, %v; want an error with %q", tt.arg, tt.whole, got, err, tt.err)
			}
		case err != nil || got != tt.want || got.String() != tt.str:
			t.Errorf("ParseTarget(%q, %v) = %+v (%s), %v; want %+v (%s)", tt.arg, tt.whole, got, got, err, tt.want, tt.str)
		}
	}
}

// FuzzParseTarget: an accepted target names a repository ParseRef accepts, and
// a whole repository only from an argument without a revision.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"TheBloke/x-GPTQ:gptq-4bit-32g-actorder_True", "org/m:refs/pr/1", "a/b:..", "x", "o/n", "o/n:"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, whole bool) {
		tg, err := ParseTarget(s, whole)
		if err != nil {
			return
		}
		if _, err := ParseRef(tg.Repo); err != nil {
			t.Fatalf("%q: repository %q is not a reference: %v", s, tg.Repo, err)
		}
		if whole != (tg.Revision == "") || (whole && strings.Contains(s, ":")) {
			t.Fatalf("%q (whole %v) parsed to %+v", s, whole, tg)
		}
	})
}

func TestRemovalWriteText(t *testing.T) {
	var b strings.Builder
	r := &Removal{Refs: []string{"main"}, Snapshots: []string{"abc"}, Blobs: 3, Freed: 2000}
	if err := r.WriteText(&b, Target{Repo: "o/n", Revision: "b"}); err != nil ||
		b.String() != "removed o/n:b: 1 refs, 1 snapshots, 3 blobs, 2.0 kB freed\n" {
		t.Errorf("WriteText = %q, %v", b.String(), err)
	}
}
