package hub

import (
	"fmt"
	"io"
	"strings"

	"github.com/rewoo-agent/agent/internal/human"
)

// Target is what a removal names: one revision of a repository, or the whole
// repository (Revision "").
type Target struct {
	Repo, Revision string
	// Branchless reports that the argument named no revision (main was meant).
	Branchless bool
}

// ParseTarget reads what agent rm takes: REPO[:BRANCH|:TAG|:COMMIT] (no revision
// means main), or with whole, a repository without a revision, every revision of
// it.
func ParseTarget(arg string, whole bool) (Target, error) {
	ref, err := ParseRef(arg)
	if err != nil {
		return Target{}, err
	}
	t := Target{Repo: ref.Repo, Revision: ref.Revision, Branchless: !strings.Contains(arg, ":")}
	if whole {
		if !t.Branchless {
			return Target{}, fmt.Errorf("%q names a revision; a whole repository is named without one", arg)
		}
		t.Revision = ""
	}
	return t, nil
}

// String names t for people: REPO:REVISION, or "REPO (every branch)".
func (t Target) String() string {
	if t.Revision == "" {
		return t.Repo + " (every branch)"
	}
	return Ref{Repo: t.Repo, Revision: t.Revision}.String()
}

// WriteText writes what r removed of what as one line.
func (r *Removal) WriteText(w io.Writer, what Target) error {
	_, err := fmt.Fprintf(w, "removed %s: %d refs, %d snapshots, %d blobs, %s freed\n",
		what, len(r.Refs), len(r.Snapshots), r.Blobs, human.Bytes(r.Freed))
	return err
}
