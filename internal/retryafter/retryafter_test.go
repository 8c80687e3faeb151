package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"99999999999999999999", Max, true},
		{"86400", Max, true},
		{"-3", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"Tue, 01 Dec 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Tuesday, 01-Dec-26 10:01:00 GMT", time.Minute, true}, // RFC 850
		{"Tue Dec  1 10:00:05 2026", 5 * time.Second, true},    // asctime
		{"Tue, 01 Dec 2026 09:00:00 GMT", 0, true},             // past
		{"Wed, 01 Dec 2027 09:00:00 GMT", Max, true},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.value, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}
