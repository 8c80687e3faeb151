package termtext

import "testing"

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"東京東京", 8, "東京東京"},
		{"東京東京", 7, "東京東…"},
		{"東京東京", 6, "東京…"},
		{"ab", 0, ""},
		{"ab", 1, "…"},
	} {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if got := Clip(tt.in, tt.n); Width(got) > max(tt.n, 0) {
			t.Errorf("Clip(%q, %d) = %q takes %d columns", tt.in, tt.n, got, Width(got))
		}
	}
}

func TestPrintableFlat(t *testing.T) {
	if got := Printable("a\tb\x1b[31mc\x00"); got != "a b[31mc" {
		t.Errorf("Printable = %q", got)
	}
	if got := ClipLine("  one\n two\t three  ", 9); got != "one two …" {
		t.Errorf("ClipLine = %q", got)
	}
}
