package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine/hub"
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
			return errors.Join(printJSON(out, repos), listErr)
		}
		return errors.Join(hub.WriteTable(out, repos, time.Now()), listErr)
	}
	return cmd
}
