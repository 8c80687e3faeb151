package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/hub/hubtest"
)

// pulled is what a pull without --include brings of files: their bytes by name.
func pulled(files map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for name, b := range files {
		if Match(DefaultInclude, name) {
			out[name] = b
		}
	}
	return out
}

func size(files ...map[string][]byte) int64 {
	seen := map[string]bool{}
	var n int64
	for _, fs := range files {
		for _, b := range fs {
			if !seen[string(b)] { // the same content is the same blob
				seen[string(b)] = true
				n += int64(len(b))
			}
		}
	}
	return n
}

// cacheOf pulls, from a fake hub, TheBloke/a on main (seed 128) and b32 (seed
// 32, sharing its configs and tokenizer with main) and TheBloke/b on main.
func cacheOf(t *testing.T) (*Client, map[string]map[string][]byte, map[string]string) {
	t.Helper()
	f := hubtest.New(t)
	files := map[string]map[string][]byte{
		"TheBloke/a:main": hubtest.Model("128"), "TheBloke/a:b32": hubtest.Model("32"), "TheBloke/b": hubtest.Model("64"),
	}
	commits := map[string]string{}
	c := newClient(t, f)
	for _, name := range []string{"TheBloke/a:main", "TheBloke/a:b32", "TheBloke/b"} {
		ref, _ := ParseRef(name)
		commits[name] = f.Add(ref.Repo, ref.Revision, files[name])
		if _, err := c.Pull(context.Background(), ref, nil); err != nil {
			t.Fatal(err)
		}
		files[name] = pulled(files[name])
	}
	return c, files, commits
}

func TestList(t *testing.T) {
	c, files, commits := cacheOf(t)
	os.WriteFile(filepath.Join(c.Cache.RepoDir("TheBloke/b"), "blobs", "abc.incomplete"), make([]byte, 10), 0o644)
	os.MkdirAll(filepath.Join(c.Cache.Dir, "datasets--x--y", "blobs"), 0o755)
	repos, err := c.Cache.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 2 || repos[0].Repo != "TheBloke/a" || repos[1].Repo != "TheBloke/b" {
		t.Fatalf("repos %+v", repos)
	}
	a, b := repos[0], repos[1]
	if want := size(files["TheBloke/a:main"], files["TheBloke/a:b32"]); a.Size != want {
		t.Errorf("TheBloke/a: %d bytes, want %d (shared blobs once)", a.Size, want)
	}
	if a.Size >= size(files["TheBloke/a:main"])+size(files["TheBloke/a:b32"]) {
		t.Errorf("the two revisions share no blob: the test proves nothing")
	}
	if b.Size != size(files["TheBloke/b"]) || b.Partial != 10 {
		t.Errorf("TheBloke/b: %d bytes, %d partial", b.Size, b.Partial)
	}
	if len(a.Revisions) != 2 {
		t.Fatalf("revisions %+v", a.Revisions)
	}
	for _, rev := range a.Revisions {
		name := "TheBloke/a:" + rev.Refs[0]
		if rev.Commit != commits[name] || rev.Size != size(files[name]) || rev.Files != len(files[name]) || !rev.Complete || rev.Problem != "" {
			t.Errorf("%s: %+v, want commit %s, %d bytes, %d files", name, rev, commits[name], size(files[name]), len(files[name]))
		}
		if names := rev.Names("TheBloke/a"); !slices.Equal(names, []string{strings.TrimSuffix(name, ":main")}) {
			t.Errorf("names %q", names)
		}
	}
}

func TestListProblems(t *testing.T) {
	c, _, commits := cacheOf(t)
	snap := c.Cache.snapshotDir("TheBloke/a", commits["TheBloke/a:main"])
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("not the cache's"), 0o644)
	os.Remove(filepath.Join(snap, "tokenizer.model"))
	os.Symlink(outside, filepath.Join(snap, "tokenizer.model"))
	os.Remove(filepath.Join(snap, "config.json"))
	os.Symlink("../../blobs/0000", filepath.Join(snap, "config.json"))
	// A revision without a ref, as a pull by commit leaves it.
	os.Remove(filepath.Join(c.Cache.RepoDir("TheBloke/a"), "refs", "b32"))

	repos, err := c.Cache.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range repos[0].Revisions {
		switch rev.Commit {
		case commits["TheBloke/a:main"]:
			if rev.Complete || !strings.Contains(rev.Problem, "tokenizer.model links outside the blobs") ||
				!strings.Contains(rev.Problem, "1 files' blobs are missing") || !strings.Contains(rev.Problem, "no config.json") {
				t.Errorf("main: %+v", rev)
			}
		case commits["TheBloke/a:b32"]:
			if len(rev.Refs) != 0 || !slices.Equal(rev.Names("TheBloke/a"), []string{"TheBloke/a:" + rev.Commit}) {
				t.Errorf("a snapshot without a ref: %+v, names %q", rev, rev.Names("TheBloke/a"))
			}
		}
	}
	// A repository folder that is a link is not entered.
	os.Symlink(c.Cache.RepoDir("TheBloke/b"), filepath.Join(c.Cache.Dir, "models--TheBloke--c"))
	if _, err := c.Cache.List(); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("a linked repository: %v", err)
	}
	if _, err := c.Cache.Remove("TheBloke/c", ""); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("removing a linked repository: %v", err)
	}
	if _, err := c.Cache.Snapshot(Ref{Repo: "TheBloke/b", Revision: "main"}); err != nil {
		t.Errorf("the link's target was touched: %v", err)
	}
	// Removing the revision with the outside link removes the link only.
	if _, err := c.Cache.Remove("TheBloke/a", "main"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(outside); err != nil || string(data) != "not the cache's" {
		t.Errorf("the file outside the cache: %q, %v", data, err)
	}
}

func TestListEmpty(t *testing.T) {
	repos, err := Cache{Dir: filepath.Join(t.TempDir(), "none")}.List()
	if err != nil || len(repos) != 0 {
		t.Errorf("a missing cache: %v, %v", repos, err)
	}
}

// blobs lists a repository's blob files.
func blobs(t *testing.T, c Cache, repo string) []string {
	entries, _ := os.ReadDir(filepath.Join(c.RepoDir(repo), "blobs"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRemoveRevision(t *testing.T) {
	c, files, commits := cacheOf(t)
	before := blobs(t, c.Cache, "TheBloke/a")
	rm, err := c.Cache.Remove("TheBloke/a", "b32")
	if err != nil {
		t.Fatal(err)
	}
	only := size(files["TheBloke/a:main"], files["TheBloke/a:b32"]) - size(files["TheBloke/a:main"])
	if rm.Whole || !slices.Equal(rm.Refs, []string{"b32"}) || !slices.Equal(rm.Snapshots, []string{commits["TheBloke/a:b32"]}) || rm.Freed != only {
		t.Errorf("removal %+v, want b32's snapshot and %d bytes", rm, only)
	}
	if after := blobs(t, c.Cache, "TheBloke/a"); len(after) != len(before)-rm.Blobs || rm.Blobs == 0 {
		t.Errorf("%d blobs before, %d after, %d removed", len(before), len(after), rm.Blobs)
	}
	// main still loads, with every blob it shared.
	if _, err := c.Cache.Snapshot(Ref{Repo: "TheBloke/a", Revision: "main"}); err != nil {
		t.Errorf("main after removing b32: %v", err)
	}
	if _, err := c.Cache.Snapshot(Ref{Repo: "TheBloke/a", Revision: "b32"}); !errors.Is(err, ErrNotCached) {
		t.Errorf("b32 after its removal: %v", err)
	}
	if _, err := c.Cache.Remove("TheBloke/a", "b32"); !errors.Is(err, ErrNotCached) {
		t.Errorf("removing it again: %v", err)
	}
	// The last revision takes the repository with it.
	rm, err = c.Cache.Remove("TheBloke/a", commits["TheBloke/a:main"])
	if err != nil || !rm.Whole || !slices.Equal(rm.Refs, []string{"main"}) || rm.Freed != size(files["TheBloke/a:main"]) {
		t.Errorf("removal %+v, %v", rm, err)
	}
	if _, err := os.Lstat(c.Cache.RepoDir("TheBloke/a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the repository folder stays: %v", err)
	}
}

// A ref whose snapshot folder is not there (a pull that linked nothing yet)
// is removed alone.
func TestRemoveDanglingRef(t *testing.T) {
	c, _, _ := cacheOf(t)
	ref := filepath.Join(c.Cache.RepoDir("TheBloke/b"), "refs", "v2")
	os.WriteFile(ref, []byte(strings.Repeat("ab", 20)), 0o644)
	rm, err := c.Cache.Remove("TheBloke/b", "v2")
	if err != nil || !slices.Equal(rm.Refs, []string{"v2"}) || rm.Whole || len(rm.Snapshots) != 0 {
		t.Errorf("removal %+v, %v", rm, err)
	}
	if _, err := os.Lstat(ref); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ref stays: %v", err)
	}
	if _, err := c.Cache.Snapshot(Ref{Repo: "TheBloke/b", Revision: "main"}); err != nil {
		t.Errorf("main: %v", err)
	}
}

func TestRemoveSharedCommit(t *testing.T) {
	c, _, commits := cacheOf(t)
	os.WriteFile(filepath.Join(c.Cache.RepoDir("TheBloke/b"), "refs", "v1"), []byte(commits["TheBloke/b"]), 0o644)
	rm, err := c.Cache.Remove("TheBloke/b", "v1")
	if err != nil || len(rm.Snapshots) != 0 || rm.Blobs != 0 || rm.Freed != 0 {
		t.Errorf("removing one of two refs to a commit: %+v, %v", rm, err)
	}
	if _, err := c.Cache.Snapshot(Ref{Repo: "TheBloke/b", Revision: "main"}); err != nil {
		t.Errorf("main: %v", err)
	}
}

func TestRemoveRepo(t *testing.T) {
	c, files, _ := cacheOf(t)
	partial := filepath.Join(c.Cache.RepoDir("TheBloke/b"), "blobs", "abc.incomplete")
	os.WriteFile(partial, make([]byte, 10), 0o644)
	rm, err := c.Cache.Remove("TheBloke/b", "")
	if err != nil || !rm.Whole || rm.Freed != size(files["TheBloke/b"])+10 || rm.Blobs != len(files["TheBloke/b"]) {
		t.Errorf("removal %+v, %v", rm, err)
	}
	repos, err := c.Cache.List()
	if err != nil || len(repos) != 1 || repos[0].Repo != "TheBloke/a" {
		t.Errorf("left: %+v, %v", repos, err)
	}
	for _, tt := range []struct{ repo, rev, want string }{
		{"TheBloke/b", "", "not in the cache"},
		{"TheBloke/a", "nope", "no such branch"},
		{"TheBloke", "", "not a repository name"},
		{"TheBloke/a:main", "", "not a repository name"},
		{"TheBloke/a", "../b", "not allowed"},
	} {
		if _, err := c.Cache.Remove(tt.repo, tt.rev); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Remove(%q, %q): %v, want %q", tt.repo, tt.rev, err, tt.want)
		}
	}
}

// A download that runs (it holds a blob lock, as a pull or huggingface_hub
// does) makes Remove refuse, touching nothing; once it ends, Remove goes on.
func TestRemoveBusy(t *testing.T) {
	if blobLock == nil {
		t.Skip("no file locks here")
	}
	c, _, _ := cacheOf(t)
	lock := filepath.Join(c.Cache.lockDir("TheBloke/a"), "deadbeef.lock")
	os.MkdirAll(filepath.Dir(lock), 0o755)
	release, err := lockFile(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	before := blobs(t, c.Cache, "TheBloke/a")
	for _, rev := range []string{"", "b32"} {
		if _, err := c.Cache.Remove("TheBloke/a", rev); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "deadbeef.lock") {
			t.Errorf("Remove(%q) during a download: %v", rev, err)
		}
	}
	if after := blobs(t, c.Cache, "TheBloke/a"); !slices.Equal(before, after) {
		t.Errorf("blobs changed: %q -> %q", before, after)
	}
	release()
	if _, err := c.Cache.Remove("TheBloke/a", "b32"); err != nil {
		t.Errorf("after the download: %v", err)
	}
}

// FuzzRepoOfDir reads folder names back into repository names: what it accepts
// is a name ParseRef takes whose folder is the name read.
func FuzzRepoOfDir(f *testing.F) {
	for _, s := range []string{"models--TheBloke--airoboros-65B-gpt4-m2.0-GPTQ", "datasets--a--b", "models--a--b--c", "models--a", ".locks"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		repo, ok := repoOfDir(name)
		if !ok {
			return
		}
		if _, err := ParseRef(repo); err != nil {
			t.Fatalf("%q read as %q, which ParseRef refuses: %v", name, repo, err)
		}
		if got := filepath.Base(Cache{Dir: "/c"}.RepoDir(repo)); got != name {
			t.Fatalf("%q read as %q, whose folder is %q", name, repo, got)
		}
	})
}
