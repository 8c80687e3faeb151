package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/engine/hub"
)

func init() {
	register(command{
		name:    "pull",
		summary: "download a model from the Hugging Face hub (org/name[:branch]) into its cache",
		run:     runPull,
	})
}

const pullUsage = `usage: agent pull REPO[:BRANCH] [--endpoint URL] [--include GLOB]... [--json]

Downloads a model repository into the Hugging Face cache ($HF_HOME/hub, shared
with the Python tools) and prints the snapshot folder, which --model takes (or
give --model the reference itself). By default only what a GPTQ model needs:
` + "config.json, quantize_config.json, generation_config.json, *.safetensors and\nits index, tokenizer.model/.json, tokenizer_config.json, special_tokens_map.json." + `
--include replaces that list. A pull that breaks off resumes where it stopped.
The token comes from $HF_TOKEN (or huggingface-cli's token file).`

// pullFlagUsage describes --pull, the same on every command that takes --model.
const pullFlagUsage = "download --model first when it is a hub reference (org/name[:branch]) not yet in the cache"

func runPull(ctx context.Context, std stdio, args []string) error {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(std.err)
	endpoint := fs.String("endpoint", "", "hub URL (default $HF_ENDPOINT, else "+hub.DefaultEndpoint+")")
	var include []string
	fs.Func("include", "download only files matching GLOB (repeatable), e.g. '*.json'", func(g string) error {
		include = append(include, g)
		return hub.CheckGlobs([]string{g})
	})
	asJSON := fs.Bool("json", false, `print {"repo","revision","commit","path","files":[...]} instead of the folder`)
	fs.Usage = func() {
		fmt.Fprintln(std.err, pullUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitError{2, errors.New("pull: need one REPO[:BRANCH]")}
	}
	ref, err := hub.ParseRef(fs.Arg(0))
	if err != nil {
		return exitError{2, err}
	}
	c := newHubClient()
	if *endpoint != "" {
		c.Endpoint = strings.TrimRight(*endpoint, "/")
	}
	snap, err := pullModel(ctx, c, ref, include, std.err)
	if err != nil {
		return err
	}
	if *asJSON {
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

// newHubClient is the hub client the environment configures (HF_ENDPOINT,
// HF_TOKEN, HF_HOME, HF_HUB_OFFLINE).
func newHubClient() *hub.Client { return hub.New(os.Getenv) }

// pullModel pulls ref with progress on progress. When the hub cannot be reached
// but the cache holds the snapshot, that snapshot serves, with a warning.
func pullModel(ctx context.Context, c *hub.Client, ref hub.Ref, include []string, progress io.Writer) (*hub.Snapshot, error) {
	view := newPullView(progress, ref)
	c.Progress = view.update
	snap, err := c.Pull(ctx, ref, include)
	view.stop()
	if err == nil {
		return snap, nil
	}
	var he *hub.Error
	if errors.As(err, &he) || ctx.Err() != nil {
		return nil, err
	}
	dir, cacheErr := c.Cache.Snapshot(ref)
	if cacheErr != nil {
		return nil, err
	}
	commit, _ := c.Cache.Commit(ref)
	fmt.Fprintf(progress, "agent: %v\nagent: using the cached snapshot of %s (commit %s)\n", err, ref, commit)
	return &hub.Snapshot{Ref: ref, Commit: commit, Dir: dir}, nil
}

// resolveModel turns the value of --model into a folder: an existing folder as
// it is; a hub reference (org/name[:branch]) as its snapshot in the cache,
// downloaded first when pull is set. Anything else is returned unchanged for the
// loader to report.
func resolveModel(ctx context.Context, model string, pull bool, progress io.Writer) (string, error) {
	if fi, err := os.Stat(model); err == nil && fi.IsDir() || !hub.LooksLikeRef(model) {
		return model, nil
	}
	ref, err := hub.ParseRef(model)
	if err != nil {
		return "", err
	}
	c := newHubClient()
	dir, err := c.Cache.Snapshot(ref)
	if err == nil {
		return dir, nil
	}
	if !pull {
		return "", fmt.Errorf("%s is not a folder, and as a hub model it is not downloaded (%v): run `agent pull %s` first, or add --pull (config engine.pull: true)", model, errors.Unwrap(err), ref)
	}
	snap, err := pullModel(ctx, c, ref, nil, progress)
	if err != nil {
		return "", err
	}
	return snap.Dir, nil
}

// pullView shows a pull's progress: one line redrawn at most 5 times a second
// on a terminal; elsewhere a line per finished file and per tenth of the bytes.
type pullView struct {
	w        io.Writer
	ref      hub.Ref
	terminal bool
	begin    time.Time
	lastDraw time.Time
	lastPct  int
	files    int
	drawn    bool
}

func newPullView(w io.Writer, ref hub.Ref) *pullView {
	return &pullView{w: w, ref: ref, terminal: isTerminal(w), begin: time.Now(), lastPct: -1}
}

// update is the hub's progress callback; the hub calls it from one goroutine at a time.
func (v *pullView) update(p hub.Progress) {
	pct := int(100 * p.Done / max(p.Total, 1))
	if v.terminal {
		if now := time.Now(); now.Sub(v.lastDraw) >= 200*time.Millisecond || p.Done == p.Total {
			v.lastDraw = now
			fmt.Fprintf(v.w, "\r\x1b[Kpulling %s: %s of %s (%d%%), %d/%d files, %s/s", v.ref,
				gb(p.Done), gb(p.Total), pct, p.FilesDone, p.Files, gb(int64(float64(p.Done)/max(time.Since(v.begin).Seconds(), 1e-3))))
			v.drawn = true
		}
		return
	}
	if p.FilesDone > v.files {
		v.files = p.FilesDone
		fmt.Fprintf(v.w, "pulled %s (%s), %d/%d files\n", p.File, gb(p.FileSize), p.FilesDone, p.Files)
	}
	if pct/10 > v.lastPct/10 || v.lastPct < 0 {
		v.lastPct = pct
		fmt.Fprintf(v.w, "pulling %s: %s of %s (%d%%)\n", v.ref, gb(p.Done), gb(p.Total), pct)
	}
}

func (v *pullView) stop() {
	if v.drawn {
		fmt.Fprintln(v.w)
	}
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
