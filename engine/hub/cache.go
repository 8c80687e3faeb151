package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrNotCached means the cache holds no complete snapshot of a reference.
var ErrNotCached = errors.New("not in the cache")

// Cache is a hub cache folder as huggingface_hub lays it out ($HF_HOME/hub), so
// a model pulled by either side is found by the other:
//
//	models--{org}--{name}/blobs/{etag}          file contents, named by etag
//	models--{org}--{name}/refs/{revision}       the commit the revision pointed at
//	models--{org}--{name}/snapshots/{commit}/…  symlinks ../../blobs/{etag}
type Cache struct {
	Dir string
}

// DefaultCacheDir is the hub cache huggingface_hub uses: $HF_HUB_CACHE, else
// $HF_HOME/hub, HF_HOME defaulting to $XDG_CACHE_HOME/huggingface and that to
// ~/.cache/huggingface. getenv is os.Getenv or a test's stand-in.
func DefaultCacheDir(getenv func(string) string) string {
	if dir := getenv("HF_HUB_CACHE"); dir != "" {
		return expandHome(dir, getenv)
	}
	if dir := getenv("HUGGINGFACE_HUB_CACHE"); dir != "" { // the older name
		return expandHome(dir, getenv)
	}
	return filepath.Join(hfHome(getenv), "hub")
}

func hfHome(getenv func(string) string) string {
	if dir := getenv("HF_HOME"); dir != "" {
		return expandHome(dir, getenv)
	}
	if dir := getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(expandHome(dir, getenv), "huggingface")
	}
	return filepath.Join(getenv("HOME"), ".cache", "huggingface")
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(getenv("HOME"), p[1:])
	}
	return p
}

// RepoDir is the folder of repo in the cache: models--org--name.
func (c Cache) RepoDir(repo string) string {
	return filepath.Join(c.Dir, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// lockDir holds the lock files of repo's blobs, where huggingface_hub keeps its
// own (.locks/models--org--name/{etag}.lock), so the two never write one blob at once.
func (c Cache) lockDir(repo string) string {
	return filepath.Join(c.Dir, ".locks", filepath.Base(c.RepoDir(repo)))
}

func (c Cache) blobPath(repo, etag string) string {
	return filepath.Join(c.RepoDir(repo), "blobs", etag)
}

func (c Cache) snapshotDir(repo, commit string) string {
	return filepath.Join(c.RepoDir(repo), "snapshots", commit)
}

// Commit reads the commit ref.Revision pointed at when it was last pulled, from
// refs/; a commit id is its own answer.
func (c Cache) Commit(ref Ref) (string, error) {
	if isCommit(ref.Revision) {
		return ref.Revision, nil
	}
	data, err := os.ReadFile(filepath.Join(c.RepoDir(ref.Repo), "refs", filepath.FromSlash(ref.Revision)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("hub: %s: %w (no %s)", ref, ErrNotCached, filepath.Join(c.RepoDir(ref.Repo), "refs", ref.Revision))
	}
	if err != nil {
		return "", fmt.Errorf("hub: %s: %w", ref, err)
	}
	commit := strings.TrimSpace(string(data))
	if !isCommit(commit) {
		return "", fmt.Errorf("hub: %s: refs/%s holds %q, not a commit id", ref, ref.Revision, commit)
	}
	return commit, nil
}

// Snapshot returns the folder of ref's snapshot without touching the network,
// when it holds a loadable model: config.json and the weights (every shard the
// safetensors index names, or at least one .safetensors file). Anything less is
// ErrNotCached, with what is missing.
func (c Cache) Snapshot(ref Ref) (string, error) {
	commit, err := c.Commit(ref)
	if err != nil {
		return "", err
	}
	dir := c.snapshotDir(ref.Repo, commit)
	if err := checkModel(dir); err != nil {
		return "", fmt.Errorf("hub: %s: %w: %v", ref, ErrNotCached, err)
	}
	return dir, nil
}

// checkModel says what a snapshot folder lacks to be loaded as a model; a
// symlink whose blob is gone counts as missing.
func checkModel(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return fmt.Errorf("%s has no config.json", dir)
	}
	index, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	if err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(index, &idx); err != nil {
			return fmt.Errorf("%s: model.safetensors.index.json: %v", dir, err)
		}
		for _, shard := range idx.WeightMap {
			if !localPath(shard) {
				return fmt.Errorf("%s: the safetensors index names %q, outside the folder", dir, shard)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(shard))); err != nil {
				return fmt.Errorf("%s lacks %s, which the safetensors index names", dir, shard)
			}
		}
		return nil
	}
	weights, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, w := range weights {
		if _, err := os.Stat(w); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s has no .safetensors weights", dir)
}

// localPath reports whether the repository path p stays inside the folder it is
// joined to: relative, clean, no "..".
func localPath(p string) bool {
	return p != "" && !strings.Contains(p, "\\") && path.Clean(p) == p && filepath.IsLocal(filepath.FromSlash(p))
}

// writeRef records that revision points at commit (refs/{revision}, the bare
// commit id with no newline, as huggingface_hub writes it), atomically.
func (c Cache) writeRef(ref Ref, commit string) error {
	if ref.Revision == commit {
		return nil
	}
	p := filepath.Join(c.RepoDir(ref.Repo), "refs", filepath.FromSlash(ref.Revision))
	if old, err := os.ReadFile(p); err == nil && string(old) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeAtomic(p, []byte(commit))
}

func writeAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// link points snapshots/{commit}/{name} at blobs/{etag} with a relative symlink
// (../../blobs/{etag} for a top-level file), replacing whatever was there.
func (c Cache) link(repo, commit, name, etag string) error {
	pointer := filepath.Join(c.snapshotDir(repo, commit), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	target, err := filepath.Rel(filepath.Dir(pointer), c.blobPath(repo, etag))
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(pointer); err == nil && cur == target {
		return nil
	}
	tmp := pointer + ".link.tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("hub: symlink %s: %w", pointer, err)
	}
	if err := os.Rename(tmp, pointer); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
