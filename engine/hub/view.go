package hub

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rewoo-agent/agent/internal/human"
)

// ProgressView shows a pull's progress: one line redrawn at most 5 times a
// second on a terminal; elsewhere a line per finished file and per tenth of the
// bytes. Both give the speed and the time left, from the bytes this pull
// fetched (not those the cache had); a pull the cache already holds says so.
type ProgressView struct {
	w        io.Writer
	ref      Ref
	terminal bool
	begin    time.Time
	had      int64 // bytes in the cache before this pull
	lastDraw time.Time
	lastPct  int
	files    int
	started  bool
}

// NewProgressView shows the progress of pulling ref on w, redrawing one line
// when w is a terminal.
func NewProgressView(w io.Writer, ref Ref, terminal bool) *ProgressView {
	return &ProgressView{w: w, ref: ref, terminal: terminal, lastPct: -1}
}

// Update is a Client.Progress callback; the client calls it from one goroutine
// at a time.
func (v *ProgressView) Update(p Progress) {
	if !v.started { // the report before any download
		v.started, v.begin, v.had, v.files = true, time.Now(), p.Done, p.FilesDone
		if p.FilesDone == p.Files && p.Done >= p.Total {
			fmt.Fprintf(v.w, "%s is already complete in the cache: %d files, %s\n", v.ref, p.Files, human.Bytes(p.Total))
			v.lastPct = 100
			return
		}
	}
	pct := int(100 * p.Done / max(p.Total, 1))
	if v.terminal {
		if now := time.Now(); now.Sub(v.lastDraw) >= 200*time.Millisecond || p.Done == p.Total {
			v.lastDraw = now
			fmt.Fprintf(v.w, "\r\x1b[Kpulling %s: %s of %s (%d%%), %d/%d files, %s", v.ref,
				human.Bytes(p.Done), human.Bytes(p.Total), pct, p.FilesDone, p.Files, v.rate(p))
			if p.Done >= p.Total && p.FilesDone == p.Files {
				fmt.Fprintln(v.w)
			}
		}
		return
	}
	if p.FilesDone > v.files {
		v.files = p.FilesDone
		fmt.Fprintf(v.w, "pulled %s (%s), %d/%d files\n", p.File, human.Bytes(p.FileSize), p.FilesDone, p.Files)
	}
	if pct/10 > v.lastPct/10 || v.lastPct < 0 {
		v.lastPct = pct
		fmt.Fprintf(v.w, "pulling %s: %s of %s (%d%%), %s\n", v.ref, human.Bytes(p.Done), human.Bytes(p.Total), pct, v.rate(p))
	}
}

// rate is the speed of this pull's own bytes and the time left at that speed.
func (v *ProgressView) rate(p Progress) string {
	secs := time.Since(v.begin).Seconds()
	fetched := p.Done - v.had
	if fetched <= 0 || secs <= 0 {
		return "starting"
	}
	speed := float64(fetched) / secs
	left := time.Duration(float64(max(p.Total-p.Done, 0)) / speed * float64(time.Second))
	return fmt.Sprintf("%s/s, %s left", human.Bytes(int64(speed)), left.Round(time.Second))
}

// WriteTable writes repos as agent list shows them, as of now: a line per
// name of each revision (NAME, ID, SIZE, MODIFIED, and what is wrong with an
// incomplete one), and a line for a repository's partial downloads.
func WriteTable(w io.Writer, repos []CachedRepo, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSIZE\tMODIFIED")
	for _, r := range repos {
		for _, rev := range r.Revisions {
			note := ""
			if !rev.Complete {
				note = "\tincomplete: " + rev.Problem
			}
			for _, name := range rev.Names(r.Repo) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", name, rev.Commit[:min(12, len(rev.Commit))], human.Bytes(rev.Size), human.Ago(now.Sub(rev.Modified)), note)
			}
		}
		if r.Partial > 0 {
			fmt.Fprintf(tw, "%s\t-\t%s\t-\tpartial downloads: agent pull resumes them, agent rm --all %s removes them\n", r.Repo, human.Bytes(r.Partial), r.Repo)
		}
	}
	return tw.Flush()
}
