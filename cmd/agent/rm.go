package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/internal/input"
)

func init() { addCommand(newRmCmd) }

// stdinTerminal reports whether r is a terminal a person answers on; tests
// stand in for one.
var stdinTerminal = input.IsTerminal

func newRmCmd() *cobra.Command {
	var yes, all, asJSON bool
	cmd := &cobra.Command{
		Use:   "rm [flags] REPO[:BRANCH]",
		Short: "remove a model from the Hugging Face cache, as ollama rm does",
		Long: `Removes one revision of a model from the hub cache: REPO[:BRANCH] (no branch means
main, as everywhere), a tag, or REPO:COMMIT; with --all, the whole repository.
The revision's ref goes, its snapshot unless another ref points at the same
commit, and the blobs no other snapshot links to; a repository left with no
snapshot goes entirely. It refuses while a download into the repository runs.
On a terminal it asks first; elsewhere it needs --yes.`,
		Args: exactArgs(1, "one model reference REPO[:BRANCH]"),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&yes, "yes", "y", false, "remove without asking")
	fs.BoolVar(&all, "all", false, "remove the whole repository, every branch of it")
	fs.BoolVar(&asJSON, "json", false, "print what was removed as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		std := stdioOf(cmd)
		what, err := hub.ParseTarget(args[0], all)
		if err != nil {
			return exitError{2, fmt.Errorf("rm: %w", err)}
		}
		cache := newHubClient().Cache
		if !yes {
			if !stdinTerminal(std.in) {
				return usageErr("rm: give --yes to remove %s without a terminal to confirm on", what)
			}
			ok, err := input.Confirm(cmd.Context(), std.in, std.err, fmt.Sprintf("remove %s from %s?", what, cache.Dir))
			if err != nil || !ok {
				return fmt.Errorf("rm: %s not removed", what)
			}
		}
		rm, err := cache.Remove(what.Repo, what.Revision)
		if errors.Is(err, hub.ErrNotCached) && what.Revision != "" && what.Branchless {
			err = fmt.Errorf("%w (--all removes every branch)", err)
		}
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(std.out).Encode(rm)
		}
		return rm.WriteText(std.out, what)
	}
	return cmd
}
