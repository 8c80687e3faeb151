package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func init() { addCommand(newListCmd) }

func newListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "list the models in the Hugging Face cache, as ollama list does",
		Long: `Lists the models in the hub cache ($HF_HUB_CACHE, else $HF_HOME/hub): one line per
branch or tag (a snapshot no ref points at by its commit), each name one that
--model and agent rm take. SIZE counts the blobs the revision links to; a blob
that several revisions share is counted once in --json's repository size.`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the repositories, revisions, refs and sizes as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		// A repository that cannot be read is an error after the others are listed.
		repos, listErr := newHubClient().Cache.List()
		out := stdioOf(cmd).out
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return errors.Join(enc.Encode(repos), listErr)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSIZE\tMODIFIED")
		for _, r := range repos {
			for _, rev := range r.Revisions {
				note := ""
				if !rev.Complete {
					note = "\tincomplete: " + rev.Problem
				}
				for _, name := range rev.Names(r.Repo) {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", name, rev.Commit[:12], gb(rev.Size), ago(now.Sub(rev.Modified)), note)
				}
			}
			if r.Partial > 0 {
				fmt.Fprintf(tw, "%s\t-\t%s\t-\tpartial downloads: agent pull resumes them, agent rm --all %s removes them\n", r.Repo, gb(r.Partial), r.Repo)
			}
		}
		return errors.Join(tw.Flush(), listErr)
	}
	return cmd
}
