package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/internal/askview"
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
	c.Progress = hub.NewProgressView(std.err, ref, askview.IsTerminal(std.err)).Update
	snap, stale, err := c.PullOrCached(ctx, ref, include)
	if err != nil {
		return err
	}
	if stale != nil {
		fmt.Fprintf(std.err, "agent: %v\nagent: using the cached snapshot of %s (commit %s)\n", stale, ref, snap.Commit)
	}
	if asJSON {
		return printJSON(std.out, struct {
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
