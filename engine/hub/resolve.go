package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNoFolder is wrapped when a model argument is neither a folder nor a hub
// reference.
var ErrNoFolder = errors.New("no such model folder")

// Resolve turns a model argument into the folder that holds the model: an
// existing folder as it is; a hub reference (org/name[:branch]) as its snapshot in
// the cache, pulled first (with PullOrCached) when pull is set. A path that is
// neither is ErrNoFolder, so a mistyped folder is reported as that, not as
// whatever file the loader would miss first. stale, when not nil, says why a
// cached snapshot served instead of a fresh pull.
func (c *Client) Resolve(ctx context.Context, model string, pull bool) (dir string, stale, err error) {
	fi, statErr := os.Stat(model)
	switch {
	case statErr == nil && fi.IsDir():
		return model, nil, nil
	case statErr == nil:
		return "", nil, fmt.Errorf("model %s: %w: it is a file (give the folder that holds config.json)", model, ErrNoFolder)
	case !LooksLikeRef(model):
		if errors.Is(statErr, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("model %s: %w", model, ErrNoFolder)
		}
		return "", nil, fmt.Errorf("model %s: %w", model, statErr)
	}
	ref, err := ParseRef(model)
	if err != nil {
		return "", nil, err
	}
	if dir, err := c.Cache.Snapshot(ref); err == nil {
		return dir, nil, nil
	} else if !pull {
		return "", nil, fmt.Errorf("%s is not a folder, and as a hub model it is not downloaded (%v): run `agent pull %s` first, or add --pull (config engine.pull: true)", model, errors.Unwrap(err), ref)
	}
	snap, stale, err := c.PullOrCached(ctx, ref, nil)
	if err != nil {
		return "", nil, err
	}
	return snap.Dir, stale, nil
}

// PullOrCached pulls ref like Pull. When the hub cannot be reached (a network
// error, not an answer of the hub's) but the cache holds a loadable snapshot,
// that snapshot serves, and stale is the pull's error.
func (c *Client) PullOrCached(ctx context.Context, ref Ref, include []string) (snap *Snapshot, stale, err error) {
	snap, err = c.Pull(ctx, ref, include)
	if err == nil {
		return snap, nil, nil
	}
	var he *Error
	if errors.As(err, &he) || ctx.Err() != nil {
		return nil, nil, err
	}
	dir, cacheErr := c.Cache.Snapshot(ref)
	if cacheErr != nil {
		return nil, nil, err
	}
	commit, _ := c.Cache.Commit(ref)
	return &Snapshot{Ref: ref, Commit: commit, Dir: dir}, err, nil
}
