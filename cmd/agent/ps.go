package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
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
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		url := cfg.Engine.LLMURL
		if url == "" {
			url = "http://" + server.DefaultAddr
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ps, err := server.FetchPS(ctx, nil, url, os.Getenv(openai.APIKeyEnv))
		if err != nil {
			return err
		}
		out := std.out
		if asJSON {
			return printJSON(out, ps)
		}
		return ps.WriteTable(out, time.Now())
	})
	return cmd
}
