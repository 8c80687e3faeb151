package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/eval"
	"github.com/rewoo-agent/agent/models"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/fromconfig"
)

func init() { addCommand(newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var limit, offset int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval [flags] [SET]",
		Short: "answer every question of a set through the whole loop and score it (exact match, F1, valid plans)",
		Long: "SET is an offline world's question file (its docs/ folder beside it is the corpus), or HotpotQA\n" +
			"(distractor), 2WikiMultihopQA or MuSiQue in their published formats (their paragraphs are the\n" +
			"corpus). No SET: the shipped offline set, generated from its seed. The plans may call LocalSearch,\n" +
			"LocalReader, Calculator and KnowledgeModel. No --model and no --llm-url: the shipped model, models/rewoo-tiny.",
		Args: cobra.MaximumNArgs(1),
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup)
	cmd.Flags().IntVar(&limit, "limit", 0, "N questions only (0: all)")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip the first N questions (to shard a set over several runs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: every question's result and the totals")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		if limit < 0 || offset < 0 {
			return usageErr("eval: --limit %d --offset %d: want 0 or more", limit, offset)
		}
		path := ""
		if len(args) == 1 {
			path = args[0]
		}
		return runEval(ctx, std, cfg, path, offset, limit, asJSON)
	})
	return cmd
}

func runEval(ctx context.Context, std stdio, cfg *configs.Config, path string, offset, limit int, asJSON bool) error {
	tmp, err := os.MkdirTemp("", "agent-eval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	set, dir, err := eval.Open(path, tmp)
	if err != nil {
		return err
	}
	c, err := eval.OpenCorpus(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Refresh(ctx); err != nil {
		return err
	}
	if cfg.Engine.Model == "" && cfg.Engine.LLMURL == "" {
		cfg.Engine.Model = models.Dir(models.RewooTiny)
	}
	spec, err := engineSpec(cfg, std.err)
	if err != nil {
		return err
	}
	base, closeLLM, err := open.LLM(ctx, spec)
	if err != nil {
		return err
	}
	defer closeLLM()
	llm := planner.Recorded(base)
	reg, err := eval.Tools(c, llm)
	if err != nil {
		return err
	}
	p := fromconfig.Planner(cfg, llm, reg, open.Sampling(cfg.Sampling))
	items := set.Shard(offset, limit)
	fmt.Fprintf(std.err, "eval: %d questions of %s, corpus of %d documents\n", len(items), set.Name, c.Len())
	rep, err := eval.Run(ctx, set.Name, items, func(ctx context.Context, q string) (*planner.Trace, error) {
		return p.Ask(ctx, q, nil)
	}, func(r eval.Result) {
		fmt.Fprintf(std.err, "%s EM %.0f F1 %.2f valid %v calls %d tokens %d %.1fs %q (gold %q)\n",
			r.ID, r.ExactMatch, r.F1, r.ValidPlan, r.EngineCalls, r.Tokens, r.WallS, r.Prediction, r.Gold)
	})
	if rep != nil {
		if asJSON {
			enc := json.NewEncoder(std.out)
			enc.SetIndent("", " ")
			if jerr := enc.Encode(rep); jerr != nil {
				return jerr
			}
		} else if terr := rep.WriteTable(std.out); terr != nil {
			return terr
		}
	}
	return err
}
