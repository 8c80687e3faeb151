package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine/hub"
)

func init() { addCommand(newPullCmd) }

func newPullCmd() *cobra.Command {
	var (
		endpoint string
		include  []string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "pull REPO[:BRANCH]",
		Short: "download a model from the Hugging Face hub (org/name[:branch]) into its cache",
		Long:  pullLong,
		Args:  exactArgs(1, "one REPO[:BRANCH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := hub.ParseRef(args[0])
			if err != nil {
				return exitError{2, err}
			}
			if err := hub.CheckGlobs(include); err != nil {
				return exitError{2, err}
			}
			return runPull(cmd.Context(), stdioOf(cmd), ref, endpoint, include, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&endpoint, "endpoint", "", "hub URL (default $HF_ENDPOINT, else "+hub.DefaultEndpoint+")")
	fs.StringArrayVar(&include, "include", nil, "download only files matching GLOB (repeatable), e.g. '*.json'")
	fs.BoolVar(&asJSON, "json", false, `print {"repo","revision","commit","path","files":[...]} instead of the folder`)
	return cmd
}

const pullLong = `Downloads a model repository into the Hugging Face cache ($HF_HOME/hub, shared
with the Python tools) and prints the snapshot folder, which --model takes (or
give --model the reference itself). By default only what a GPTQ model needs:
` + "config.json, quantize_config.json, generation_config.json, *.safetensors and\nits index, tokenizer.model/.json, tokenizer_config.json, special_tokens_map.json." + `
--include replaces that list. A pull that breaks off resumes where it stopped;
a pull of what the cache already holds whole says so and downloads nothing.
The token comes from $HF_TOKEN (or huggingface-cli's token file).`

func runPull(ctx context.Context, std stdio, ref hub.Ref, endpoint string, include []string, asJSON bool) error {
	c := newHubClient()
	if endpoint != "" {
		c.Endpoint = strings.TrimRight(endpoint, "/")
	}
	c.Progress = newPullView(std.err, ref).update
	snap, stale, err := c.PullOrCached(ctx, ref, include)
	if err != nil {
		return err
	}
	if stale != nil {
		fmt.Fprintf(std.err, "agent: %v\nagent: using the cached snapshot of %s (commit %s)\n", stale, ref, snap.Commit)
	}
	if asJSON {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Repo     string     `json:"repo"`
			Revision string     `json:"revision"`
			Commit   string     `json:"commit"`
			Path     string     `json:"path"`
			Files    []hub.File `json:"files"`
		}{ref.Repo, ref.Revision, snap.Commit, snap.Dir, snap.Files})
	}
	_, err = fmt.Fprintln(std.out, snap.Dir)
	return err
}

// pullView shows a pull's progress: one line redrawn at most 5 times a second
// on a terminal; elsewhere a line per finished file and per tenth of the bytes.
// Both give the speed and the time left, from the bytes this pull fetched (not
// those the cache had); a pull the cache already holds says so.
type pullView struct {
	w        io.Writer
	ref      hub.Ref
	terminal bool
	begin    time.Time
	had      int64 // bytes in the cache before this pull
	lastDraw time.Time
	lastPct  int
	files    int
	started  bool
	drawn    bool
}

func newPullView(w io.Writer, ref hub.Ref) *pullView {
	return &pullView{w: w, ref: ref, terminal: isTerminal(w), lastPct: -1}
}

// update is the hub's progress callback; the hub calls it from one goroutine at a time.
func (v *pullView) update(p hub.Progress) {
	if !v.started { // the report before any download
		v.started, v.begin, v.had, v.files = true, time.Now(), p.Done, p.FilesDone
		if p.FilesDone == p.Files && p.Done >= p.Total {
			fmt.Fprintf(v.w, "%s is already complete in the cache: %d files, %s\n", v.ref, p.Files, gb(p.Total))
			v.lastPct = 100
			return
		}
	}
	pct := int(100 * p.Done / max(p.Total, 1))
	if v.terminal {
		if now := time.Now(); now.Sub(v.lastDraw) >= 200*time.Millisecond || p.Done == p.Total {
			v.lastDraw = now
			fmt.Fprintf(v.w, "\r\x1b[Kpulling %s: %s of %s (%d%%), %d/%d files, %s", v.ref,
				gb(p.Done), gb(p.Total), pct, p.FilesDone, p.Files, v.rate(p))
			v.drawn = true
			if p.Done >= p.Total && p.FilesDone == p.Files {
				fmt.Fprintln(v.w)
				v.drawn = false
			}
		}
		return
	}
	if p.FilesDone > v.files {
		v.files = p.FilesDone
		fmt.Fprintf(v.w, "pulled %s (%s), %d/%d files\n", p.File, gb(p.FileSize), p.FilesDone, p.Files)
	}
	if pct/10 > v.lastPct/10 || v.lastPct < 0 {
		v.lastPct = pct
		fmt.Fprintf(v.w, "pulling %s: %s of %s (%d%%), %s\n", v.ref, gb(p.Done), gb(p.Total), pct, v.rate(p))
	}
}

// rate is the speed of this pull's own bytes and the time left at that speed.
func (v *pullView) rate(p hub.Progress) string {
	secs := time.Since(v.begin).Seconds()
	fetched := p.Done - v.had
	if fetched <= 0 || secs <= 0 {
		return "starting"
	}
	speed := float64(fetched) / secs
	left := time.Duration(float64(max(p.Total-p.Done, 0)) / speed * float64(time.Second))
	return fmt.Sprintf("%s/s, %s left", gb(int64(speed)), left.Round(time.Second))
}

// gb prints a byte count in the unit that suits it.
func gb(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
