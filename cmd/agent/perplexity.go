package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

func init() { addCommand(newPerplexityCmd) }

func newPerplexityCmd() *cobra.Command {
	var (
		idList string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "perplexity [flags] (--ids 1,2,3 | FILE)",
		Short: "score ids or a text file with a model: perplexity and per-token NLL",
		Long:  "Scores the ids, or the text of FILE tokenized with BOS in front, with the configured local model.",
		Args: func(cmd *cobra.Command, args []string) error {
			if (idList == "") == (len(args) != 1) {
				return usageErr("perplexity: need either --ids or one FILE")
			}
			return nil
		},
	}
	conf := configFlagSet(cmd, localGroup)
	cmd.Flags().StringVar(&idList, "ids", "", "token ids, e.g. 1,2,3 (else the text FILE, tokenized with BOS)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"perplexity":...,"tokens":...,"nll":[...]}`)
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		file := ""
		if len(args) == 1 {
			file = args[0]
		}
		return runPerplexity(ctx, std, cfg, idList, file, asJSON)
	})
	return cmd
}

func runPerplexity(ctx context.Context, std stdio, cfg *configs.Config, idList, file string, asJSON bool) error {
	spec, err := localSpec("perplexity", cfg, std.err)
	if err != nil {
		return err
	}
	var ids []int
	if idList != "" {
		if ids, err = tokenizer.ParseIDs(idList); err != nil {
			return usageErr("perplexity: --ids: %v", err)
		}
		if len(ids) < 2 {
			return usageErr("perplexity: need at least 2 tokens, have %d", len(ids))
		}
	}
	var text []byte
	if file != "" {
		if text, err = os.ReadFile(file); err != nil {
			return err
		}
	}
	spec.IDsOnly = ids != nil
	m, err := open.Model(ctx, spec)
	if err != nil {
		return err
	}
	defer m.Close()
	if ids == nil {
		ids = m.Tokenizer.EncodeWithBOS(string(text))
	}
	nll, err := llama.NLL(ctx, m.Model, ids)
	if err != nil {
		return err
	}
	ppl := llama.Perplexity(nll)
	if asJSON {
		return json.NewEncoder(std.out).Encode(struct {
			Perplexity float64   `json:"perplexity"`
			Tokens     int       `json:"tokens"`
			NLL        []float64 `json:"nll"`
		}{ppl, len(ids), nll})
	}
	_, err = fmt.Fprintf(std.out, "%.4f\n", ppl)
	return err
}
