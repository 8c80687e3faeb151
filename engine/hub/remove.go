package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrBusy is returned by Remove while a download into the repository runs
// (another process, or this one, holds one of its blob locks), or, where this
// system has no locks between processes, while a download left a partial blob.
var ErrBusy = errors.New("a download into it is in progress")

// Removal is what Remove took out of the cache.
type Removal struct {
	Repo      string   `json:"repo"`
	Refs      []string `json:"refs"`      // the refs deleted
	Snapshots []string `json:"snapshots"` // the commits whose snapshot folders were deleted
	Blobs     int      `json:"blobs"`     // blobs deleted: those no remaining snapshot links to
	Freed     int64    `json:"freed"`     // bytes
	// Whole reports that the repository's folder is gone: the whole repository
	// was asked for, or its last revision went.
	Whole bool `json:"whole"`
}

// Remove deletes from the cache a whole repository (revision "") or one
// revision of it: a branch or tag (its ref; its snapshot too unless another
// ref points at the same commit) or a commit (its snapshot and every ref that
// points at it). The blobs that no remaining snapshot links to are deleted with
// it; a repository left without snapshots goes entirely. Partial downloads
// (.incomplete) go with the whole repository and stay otherwise, for a later
// pull to resume.
//
// It refuses (ErrBusy) while a download into the repository runs, and holds
// the lock of every blob it deletes while it does, so a pull that starts
// meanwhile never links a blob that is going; lock files stay, as
// huggingface_hub leaves them. It reads links and never follows them: a link
// out of the repository is removed, never what it points at.
func (c Cache) Remove(repo, revision string) (*Removal, error) {
	if _, err := ParseRef(repo); err != nil || strings.Contains(repo, ":") {
		return nil, fmt.Errorf("hub: %q is not a repository name (org/name)", repo)
	}
	if revision != "" {
		if err := checkRevision(revision); err != nil {
			return nil, fmt.Errorf("hub: %s: %w", repo, err)
		}
	}
	what := repo
	if revision != "" {
		what = Ref{Repo: repo, Revision: revision}.String()
	}
	dir := c.RepoDir(repo)
	if ok, err := realDir(dir); err != nil {
		return nil, fmt.Errorf("hub: %s: %w", what, err)
	} else if !ok {
		return nil, fmt.Errorf("hub: %s: %w", what, ErrNotCached)
	}
	r, err := c.scan(repo)
	if err != nil {
		return nil, err
	}
	locks, err := c.lockRepo(repo)
	defer func() {
		for _, release := range locks {
			release()
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %w", what, err)
	}

	plan, err := r.plan(revision)
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %w", what, err)
	}
	rm := &Removal{Repo: repo, Refs: plan.refs, Snapshots: plan.snapshots}
	if plan.whole {
		rm.Whole, rm.Freed, rm.Blobs = true, r.Size+r.Partial, r.blobCount
		return rm, os.RemoveAll(dir) // removes links, never what they point at
	}
	for _, b := range plan.blobs {
		if locks[b] != nil {
			continue
		}
		release, err := c.tryLock(repo, b)
		if err != nil {
			return nil, fmt.Errorf("hub: %s: %w", what, err)
		}
		locks[b] = release
	}
	for _, ref := range plan.refs {
		if err := os.Remove(filepath.Join(dir, "refs", filepath.FromSlash(ref))); err != nil {
			return rm, fmt.Errorf("hub: %s: %w", what, err)
		}
	}
	for _, commit := range plan.snapshots {
		if err := os.RemoveAll(c.snapshotDir(repo, commit)); err != nil {
			return rm, fmt.Errorf("hub: %s: %w", what, err)
		}
	}
	for _, b := range plan.blobs {
		p := c.blobPath(repo, b)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if err := os.Remove(p); err != nil {
			return rm, fmt.Errorf("hub: %s: %w", what, err)
		}
		rm.Blobs++
		rm.Freed += fi.Size()
	}
	return rm, nil
}

// blobLock is lockFile, nil where the system has none.
var blobLock func(ctx context.Context, path string) (func(), error) = lockFile

// removal is what Remove is to delete.
type removal struct {
	refs, snapshots, blobs []string
	whole                  bool
}

// plan works out what removing revision ("" for all) deletes.
func (r *CachedRepo) plan(revision string) (removal, error) {
	var p removal
	if revision == "" {
		p.whole = true
		for _, rev := range r.Revisions {
			p.snapshots = append(p.snapshots, rev.Commit)
			p.refs = append(p.refs, rev.Refs...)
		}
		return p, nil
	}
	var target *CachedRevision
	for i, rev := range r.Revisions {
		if rev.Commit == revision || slices.Contains(rev.Refs, revision) {
			target = &r.Revisions[i]
		}
	}
	if target == nil {
		if slices.Contains(r.dangling, revision) { // a pull that linked nothing yet
			p.refs = []string{revision}
			return p, nil
		}
		return p, fmt.Errorf("%w (no such branch, tag or commit here)", ErrNotCached)
	}
	if isCommit(revision) {
		p.refs = slices.Clone(target.Refs)
	} else {
		p.refs = []string{revision}
	}
	if len(p.refs) < len(target.Refs) { // another ref keeps the snapshot
		return p, nil
	}
	p.snapshots = []string{target.Commit}
	kept := map[string]bool{}
	for _, rev := range r.Revisions {
		if rev.Commit != target.Commit {
			for b := range rev.blobs {
				kept[b] = true
			}
		}
	}
	for b := range target.blobs {
		if !kept[b] {
			p.blobs = append(p.blobs, b)
		}
	}
	slices.Sort(p.blobs)
	if len(r.Revisions) == 1 {
		p.whole = true
	}
	return p, nil
}

// lockRepo fails with ErrBusy while a download into repo runs: while any of its
// blob locks is held or, without locks, while a partial blob exists. It returns
// the locks it took, by etag, also when it fails.
func (c Cache) lockRepo(repo string) (map[string]func(), error) {
	locks := map[string]func(){}
	if blobLock == nil {
		partial, _ := filepath.Glob(filepath.Join(c.RepoDir(repo), "blobs", "*.incomplete"))
		if len(partial) > 0 {
			return locks, fmt.Errorf("%w (%s)", ErrBusy, partial[0])
		}
		return locks, nil
	}
	entries, err := os.ReadDir(c.lockDir(repo))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return locks, err
	}
	for _, e := range entries {
		etag, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		release, err := c.tryLock(repo, etag)
		if err != nil {
			return locks, err
		}
		locks[etag] = release
	}
	return locks, nil
}

// tryLock takes the lock of one blob without waiting (creating its lock file,
// as a pull does), or fails with ErrBusy when another holder has it.
func (c Cache) tryLock(repo, etag string) (func(), error) {
	if blobLock == nil {
		return func() {}, nil
	}
	p := filepath.Join(c.lockDir(repo), etag+".lock")
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one try, no wait
	release, err := blobLock(ctx, p)
	if errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("%w (%s is held)", ErrBusy, p)
	}
	return release, err
}
