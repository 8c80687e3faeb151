package hub

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CachedRepo is a model repository in the cache, as List finds it.
type CachedRepo struct {
	Repo string `json:"repo"` // org/name
	Dir  string `json:"dir"`
	// Size is the bytes of its blobs (and of files copied into snapshots
	// rather than linked), each counted once however many revisions share it.
	Size int64 `json:"size"`
	// Partial is the bytes of stopped or running downloads (blobs/*.incomplete),
	// which Size leaves out.
	Partial   int64            `json:"partial,omitempty"`
	Revisions []CachedRevision `json:"revisions"`

	blobCount int
	dangling  []string // refs to a commit without a snapshot folder
}

// CachedRevision is one snapshot of a repository.
type CachedRevision struct {
	Commit string   `json:"commit"`
	Refs   []string `json:"refs"` // the branches and tags that point at it
	// Size is the bytes of the blobs its files link to, each counted once.
	Size  int64 `json:"size"`
	Files int   `json:"files"`
	// Complete reports whether it holds a model that loads (config.json and all
	// the weights); a pull that stopped leaves a snapshot that is not.
	Complete bool      `json:"complete"`
	Modified time.Time `json:"modified"` // the newest of its blobs
	// Problem says why the snapshot is not complete, or names a link that leaves
	// the repository's blobs (not followed, not counted).
	Problem string `json:"problem,omitempty"`

	blobs map[string]bool // the blob names it links to
}

// Names are the references that name the revision, each one agent rm takes: one
// per ref, or org/name:commit for a snapshot no ref points at.
func (r CachedRevision) Names(repo string) []string {
	if len(r.Refs) == 0 {
		return []string{Ref{Repo: repo, Revision: r.Commit}.String()}
	}
	names := make([]string, len(r.Refs))
	for i, ref := range r.Refs {
		names[i] = Ref{Repo: repo, Revision: ref}.String()
	}
	return names
}

// List returns the model repositories in the cache, sorted by name, each with
// its revisions, newest first. It reads only the cache: links are read, never
// followed, and a repository folder, or one of its blobs, refs or snapshots
// folders, that is a symlink is reported as an error rather than entered. A
// cache folder that does not exist holds nothing.
func (c Cache) List() ([]CachedRepo, error) {
	entries, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hub: the cache: %w", err)
	}
	var repos []CachedRepo
	var errs []error
	for _, e := range entries {
		repo, ok := repoOfDir(e.Name())
		if !ok {
			continue // datasets--, spaces--, .locks and the like
		}
		r, err := c.scan(repo)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		repos = append(repos, *r)
	}
	return repos, errors.Join(errs...)
}

// repoOfDir reads a repository folder's name back: models--org--name.
func repoOfDir(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "models--")
	if !ok {
		return "", false
	}
	org, model, ok := strings.Cut(rest, "--")
	repo := org + "/" + model
	if _, err := ParseRef(repo); !ok || err != nil || strings.Contains(repo, ":") {
		return "", false
	}
	return repo, true
}

// realDir checks that p is a directory, not a link to one; a missing one is
// ok (false).
func realDir(p string) (bool, error) {
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return false, fmt.Errorf("%s is a symlink, not followed", p)
	case !fi.IsDir():
		return false, fmt.Errorf("%s is not a folder", p)
	}
	return true, nil
}

// scan reads one repository.
func (c Cache) scan(repo string) (*CachedRepo, error) {
	dir := c.RepoDir(repo)
	r := &CachedRepo{Repo: repo, Dir: dir}
	for _, sub := range []string{"", "blobs", "refs", "snapshots"} {
		if _, err := realDir(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("hub: %s: %w", repo, err)
		}
	}
	blobs := map[string]fs.FileInfo{}
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hub: %s: %w", repo, err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if strings.HasSuffix(e.Name(), ".incomplete") {
			r.Partial += fi.Size()
			continue
		}
		blobs[e.Name()] = fi
		r.Size += fi.Size()
		r.blobCount++
	}
	refs, err := c.refs(repo)
	if err != nil {
		return nil, err
	}
	snaps, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hub: %s: %w", repo, err)
	}
	for _, s := range snaps {
		if !s.IsDir() || s.Type()&fs.ModeSymlink != 0 {
			continue
		}
		rev, err := c.scanSnapshot(repo, s.Name(), blobs)
		if err != nil {
			return nil, err
		}
		r.Size += rev.copied
		rev.Refs = refs[s.Name()]
		delete(refs, s.Name())
		r.Revisions = append(r.Revisions, rev.CachedRevision)
	}
	for _, names := range refs {
		r.dangling = append(r.dangling, names...)
	}
	slices.SortFunc(r.Revisions, func(a, b CachedRevision) int {
		return cmp.Or(b.Modified.Compare(a.Modified), cmp.Compare(a.Commit, b.Commit))
	})
	return r, nil
}

// refs maps each commit to the refs (refs/main, refs/pr/1 ...) that point at it.
func (c Cache) refs(repo string) (map[string][]string, error) {
	root := filepath.Join(c.RepoDir(repo), "refs")
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err // WalkDir does not follow links
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(root, p)
		name = filepath.ToSlash(name)
		if commit := strings.TrimSpace(string(data)); isCommit(commit) && checkRevision(name) == nil {
			out[commit] = append(out[commit], name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: %s: refs: %w", repo, err)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out, nil
}

// scannedRevision is a revision with the bytes of the files copied into it.
type scannedRevision struct {
	CachedRevision
	copied int64
}

// scanSnapshot reads snapshots/{commit}: each file is a link to a blob of the
// repository, or (where links are not available) a copy.
func (c Cache) scanSnapshot(repo, commit string, blobs map[string]fs.FileInfo) (scannedRevision, error) {
	blobDir := filepath.Join(c.RepoDir(repo), "blobs")
	root := c.snapshotDir(repo, commit)
	rev := scannedRevision{CachedRevision: CachedRevision{Commit: commit, blobs: map[string]bool{}}}
	var problems []string
	missing := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rev.Files++
		if d.Type()&fs.ModeSymlink == 0 {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				rev.Size += fi.Size()
				rev.copied += fi.Size()
				rev.Modified = latest(rev.Modified, fi.ModTime())
			}
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		name := filepath.Base(target)
		if filepath.Clean(filepath.Dir(target)) != blobDir {
			rel, _ := filepath.Rel(root, p)
			problems = append(problems, fmt.Sprintf("%s links outside the blobs", filepath.ToSlash(rel)))
			return nil
		}
		fi, ok := blobs[name]
		if !ok {
			missing++
			return nil
		}
		if !rev.blobs[name] {
			rev.blobs[name] = true
			rev.Size += fi.Size()
		}
		rev.Modified = latest(rev.Modified, fi.ModTime())
		return nil
	})
	if err != nil {
		return rev, fmt.Errorf("hub: %s: snapshot %s: %w", repo, commit, err)
	}
	if missing > 0 {
		problems = append(problems, fmt.Sprintf("%d files' blobs are missing", missing))
	}
	if err := checkModel(root); err != nil {
		problems = append(problems, "not a loadable model: "+strings.TrimLeft(strings.TrimPrefix(err.Error(), root), ": "))
	}
	rev.Complete = len(problems) == 0
	if rev.Modified.IsZero() {
		if fi, err := os.Lstat(root); err == nil {
			rev.Modified = fi.ModTime()
		}
	}
	rev.Problem = strings.Join(problems, "; ")
	return rev, nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
