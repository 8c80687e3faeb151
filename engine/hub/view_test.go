package hub

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestProgressViewETA: the speed counts only the bytes this pull fetched, not
// those the cache had, and the time left follows from it.
func TestProgressViewETA(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			var b strings.Builder
			v := NewProgressView(&b, Ref{Repo: "org/m", Revision: "main"}, terminal)
			v.Update(Progress{Done: 5000, Total: 9000, Files: 2, FilesDone: 1})
			time.Sleep(2 * time.Second)
			v.Update(Progress{File: "b", Done: 7000, Total: 9000, Files: 2, FilesDone: 1})
			if want := "1.0 kB/s, 2s left"; !strings.Contains(b.String(), want) {
				t.Errorf("terminal %v: progress:\n%s\nwant %q", terminal, b.String(), want)
			}
			if strings.Contains(b.String(), "\r") != terminal {
				t.Errorf("terminal %v: redraws %q", terminal, b.String())
			}
		})
	}
}

func TestProgressViewComplete(t *testing.T) {
	var b strings.Builder
	v := NewProgressView(&b, Ref{Repo: "org/m", Revision: "main"}, false)
	v.Update(Progress{Done: 2e6, Total: 2e6, Files: 3, FilesDone: 3})
	if want := "org/m is already complete in the cache: 3 files, 2.0 MB\n"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

func TestWriteTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	repos := []CachedRepo{{
		Repo: "org/m", Partial: 1500,
		Revisions: []CachedRevision{
			{Commit: "0123456789abcdef", Refs: []string{"main", "v1"}, Size: 3e9, Complete: true, Modified: now.Add(-90 * time.Second)},
			{Commit: "fedcba9876543210", Size: 10, Modified: now.Add(-50 * time.Hour), Problem: "no config.json"},
		},
	}}
	var b strings.Builder
	if err := WriteTable(&b, repos, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"NAME ", "org/m ", "org/m:v1 ", "0123456789ab ", "3.00 GB ", "1m30s ago",
		"org/m:fedcba9876543210 ", "2 days ago", "incomplete: no config.json",
		"partial downloads: agent pull resumes them, agent rm --all org/m removes them",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table:\n%s\nwant %q in it", b.String(), want)
		}
	}
	if n := strings.Count(b.String(), "\n"); n != 5 {
		t.Errorf("%d lines, want 5:\n%s", n, b.String())
	}
}
