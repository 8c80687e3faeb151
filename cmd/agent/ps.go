package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/server"
)

func init() { addCommand(newPSCmd) }

func newPSCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "list what a running agent serve has loaded, and until when",
		Long: `Asks the agent serve at --llm-url (default: engine.llm_url, else http://` + server.DefaultAddr + `)
what it has loaded (GET ` + server.PathPS + `), as ollama ps does: the model, its status, since
when it is loaded, when it unloads under the keep-alive, and the requests running
and waiting. Its API key comes from $` + openai.APIKeyEnv + `.`,
		Args: noArgs,
	}
	conf := configFlagSet(cmd, serverGroup)
	cmd.Flags().MarkHidden("llm-model")
	cmd.Flags().MarkHidden("llm-api")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's answer as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := conf.load()
		if err != nil {
			return err
		}
		url := cfg.Engine.LLMURL
		if url == "" {
			url = "http://" + server.DefaultAddr
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
		defer cancel()
		ps, err := server.FetchPS(ctx, nil, url, os.Getenv(openai.APIKeyEnv))
		if err != nil {
			return err
		}
		out := stdioOf(cmd).out
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(ps)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tLOADED\tUNTIL\tRUNNING\tWAITING")
		for _, m := range ps.Models {
			since, until := "-", "-"
			if m.LoadedAt != nil {
				since = ago(now.Sub(*m.LoadedAt))
			}
			switch {
			case m.ExpiresAt != nil:
				until = "in " + roundDuration(m.ExpiresAt.Sub(now))
			case m.Loaded && m.KeepAlive < 0:
				until = "forever"
			case m.Loaded:
				until = "in use"
			}
			status := m.Status
			if m.Error != "" {
				status += ": " + m.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", m.Name, status, since, until, m.Running, m.Waiting)
		}
		return tw.Flush()
	}
	return cmd
}

func ago(d time.Duration) string { return roundDuration(d) + " ago" }

// roundDuration is d to the second, to the minute past an hour, in days past
// two days; never negative.
func roundDuration(d time.Duration) string {
	switch d = max(d, 0); {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}
