package human

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1_500_000: "1.5 MB", 3_640_000_000: "3.64 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0s",
		1400 * time.Millisecond:       "1s",
		90 * time.Second:              "1m30s",
		time.Hour + 90*time.Second:    "1h2m",
		3*time.Hour + 20*time.Second:  "3h0m",
		50 * time.Hour:                "2 days",
		10*24*time.Hour + time.Minute: "10 days",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := Ago(5 * time.Second); got != "5s ago" {
		t.Errorf("Ago = %q", got)
	}
}
