package hub

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultRevision is the branch a reference without ":branch" names.
const DefaultRevision = "main"

// Ref names a model repository on the hub and a revision of it: a branch, a tag
// or a commit.
type Ref struct {
	Repo     string // "org/name"
	Revision string // "main" when the reference named none
}

// String gives the reference back as ParseRef reads it: "org/name", or
// "org/name:branch" for a revision other than main.
func (r Ref) String() string {
	if r.Revision == DefaultRevision {
		return r.Repo
	}
	return r.Repo + ":" + r.Revision
}

// The hub's repository names: letters, digits, '-', '_' and '.', neither
// starting nor ending with '-' or '.', without "--" or ".." (huggingface_hub's
// validate_repo_id), at most 96 characters each part.
var (
	namePart  = `[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?`
	repoRE    = regexp.MustCompile(`^` + namePart + `/` + namePart + `$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	badRevRE  = regexp.MustCompile(`[\x00-\x20\x7f~^:?*\[\\]`)
	maxRevLen = 255
)

// ParseRef reads "org/name" or "org/name:revision".
func ParseRef(s string) (Ref, error) {
	repo, rev, hasRev := strings.Cut(s, ":")
	if !hasRev {
		rev = DefaultRevision
	}
	if !repoRE.MatchString(repo) || strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return Ref{}, fmt.Errorf("hub: %q is not a model reference: want org/name or org/name:branch (letters, digits, '-', '_', '.')", s)
	}
	if err := checkRevision(rev); err != nil {
		return Ref{}, fmt.Errorf("hub: %q: %w", s, err)
	}
	return Ref{Repo: repo, Revision: rev}, nil
}

// LooksLikeRef reports whether s has the shape ParseRef accepts. A value that is
// also a folder on disk is the caller's to prefer.
func LooksLikeRef(s string) bool {
	_, err := ParseRef(s)
	return err == nil
}

// checkRevision accepts git branch and tag names (refs/pr/1 included) and commit
// ids; revisions become paths under refs/, so nothing may climb out of it.
func checkRevision(rev string) error {
	switch {
	case rev == "":
		return fmt.Errorf("empty revision after ':'")
	case len(rev) > maxRevLen:
		return fmt.Errorf("revision longer than %d characters", maxRevLen)
	case badRevRE.MatchString(rev):
		return fmt.Errorf("revision %q has a character git does not allow in a branch name", rev)
	case strings.HasPrefix(rev, "/") || strings.HasSuffix(rev, "/") || strings.Contains(rev, "//"):
		return fmt.Errorf("revision %q: empty path component", rev)
	}
	for part := range strings.SplitSeq(rev, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return fmt.Errorf("revision %q: component %q is not allowed", rev, part)
		}
	}
	return nil
}

// isCommit reports whether rev is a full commit id, which names an immutable
// snapshot and needs no refs/ entry.
func isCommit(rev string) bool { return commitRE.MatchString(rev) }
