package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/hub/hubtest"
)

func TestResolve(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	c := newClient(t, f)
	ctx := context.Background()

	folder := t.TempDir()
	file := filepath.Join(folder, "config.json")
	if err := os.WriteFile(file, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if dir, _, err := c.Resolve(ctx, folder, false); err != nil || dir != folder {
		t.Errorf("a folder resolves to %q, %v; want itself", dir, err)
	}
	for _, bad := range []string{"/nonexistent", "./no/such/dir", file} {
		if _, _, err := c.Resolve(ctx, bad, true); !errors.Is(err, ErrNoFolder) || !strings.Contains(err.Error(), bad) {
			t.Errorf("Resolve(%q) = %v, want ErrNoFolder naming it", bad, err)
		}
	}
	if _, _, err := c.Resolve(ctx, "org/m", false); err == nil || !strings.Contains(err.Error(), "agent pull org/m") {
		t.Errorf("an uncached reference without pull: %v, want advice to pull", err)
	}
	dir, stale, err := c.Resolve(ctx, "org/m", true)
	if err != nil || stale != nil {
		t.Fatalf("pull on demand: %v, %v", err, stale)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Errorf("the pulled snapshot %s: %v", dir, err)
	}
	// Cached now: the hub is not asked again, even when it is gone.
	f.Server.Close()
	if again, _, err := c.Resolve(ctx, "org/m", false); err != nil || again != dir {
		t.Errorf("cached reference resolves to %q, %v; want %q", again, err, dir)
	}
	// Pulling with the hub gone serves the cache, and says why.
	snap, stale, err := c.PullOrCached(ctx, Ref{Repo: "org/m", Revision: "main"}, nil)
	if err != nil || stale == nil || snap.Dir != dir {
		t.Errorf("PullOrCached with the hub down: %v, stale %v; want the cache with the reason", err, stale)
	}
}
