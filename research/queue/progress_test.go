package queue

import (
	"testing"
	"time"
)

// TestETA checks the time left at the pace so far, and the bar that shows it.
func TestETA(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    Progress
		eta  time.Duration
		bar  string
	}{
		{"nothing yet", Progress{Total: 10, Submitted: t0}, 0, "[..........] 0/10   0%"},
		{"one result", Progress{Total: 10, Results: 1, ByStatus: map[string]int{"ok": 1}, Submitted: t0, First: t0.Add(time.Minute), Last: t0.Add(time.Minute)},
			9 * time.Minute, "[#.........] 1/10  10% ok 1 ETA 9m0s"},
		{"a pace", Progress{Total: 10, Results: 5, Running: 2, ByStatus: map[string]int{"ok": 4, "failed": 1}, Submitted: t0,
			First: t0.Add(time.Hour), Last: t0.Add(time.Hour + 4*time.Minute)}, 5 * time.Minute,
			"[#####.....] 5/10  50% failed 1 ok 4 running 2 ETA 5m0s"},
		{"done", Progress{Total: 2, Results: 2, ByStatus: map[string]int{"ok": 2}, Submitted: t0, First: t0, Last: t0.Add(time.Second)}, 0,
			"[##########] 2/2 100% ok 2 done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if eta := tt.p.ETA(); eta != tt.eta {
				t.Errorf("ETA %s, want %s", eta, tt.eta)
			}
			if bar := Bar(&tt.p, len(tt.bar)); bar != tt.bar {
				t.Errorf("bar %q, want %q", bar, tt.bar)
			}
		})
	}
}
