package server

import (
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseKeepAlive: any text gives a duration or an error, never a panic; a
// duration is -1 (forever) or positive (0 would be Options' default).
func FuzzParseKeepAlive(f *testing.F) {
	seeds, err := os.ReadFile("testdata/keepalive/seeds.txt")
	if err != nil {
		f.Fatal(err)
	}
	for line := range strings.Lines(string(seeds)) {
		f.Add(strings.TrimSuffix(line, "\n"))
		f.Add(line + "," + line)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseKeepAlive(s)
		if err == nil && d != -1 && d <= 0 {
			t.Errorf("ParseKeepAlive(%q) = %v", s, d)
		}
		if err == nil && d > 0 {
			if want, perr := time.ParseDuration(s); perr != nil || (want > 0 && want != d) {
				t.Errorf("ParseKeepAlive(%q) = %v, time.ParseDuration says %v, %v", s, d, want, perr)
			}
		}
		keys, err := ParseKeys(nil, s)
		for _, k := range keys {
			if err != nil || k == "" || strings.ContainsAny(k, " \t\r\n,") {
				t.Errorf("ParseKeys(%q) = %q, %v", s, keys, err)
			}
		}
	})
}
