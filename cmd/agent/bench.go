package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/bench"
)

func init() { addCommand(newBenchCmd) }

// benchArgs are bench's own flags.
type benchArgs struct {
	bench.Options
	asJSON bool
}

func newBenchCmd() *cobra.Command {
	var a benchArgs
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "measure a model's load time, prompt (prefill) and decode speed on a device",
		Long: "Loads the configured local model, then times a prompt of random ids fed in one\n" +
			"batch and greedy decoding one token at a time, on the path agent generate takes,\n" +
			"and reports each against its floor, from limits the backend measures in the same\n" +
			"run: the decode's bytes a step must read (every weight, scale and zero, the output\n" +
			"layer and the cache) over the read bandwidth, the prefill's multiply-adds over the\n" +
			"tensor-core rate. With --seqs it then loads the model into the continuous-batching\n" +
			"engine (the one ask, batch and serve use) and reports its throughput and floor with\n" +
			"that many calls at once, each its own random prompt. With --peer it then runs\n" +
			"another engine's benchmark command on the same checkpoint (the job in\n" +
			"AGENT_BENCH_MODEL, _DEVICE, _PROMPT, _GEN, _RUNS, _SEQS; its times back as JSON\n" +
			"lines on its standard output, schema in the README) and reports it beside ours.",
		Args: noArgs,
	}
	conf := configFlagSet(cmd, localGroup)
	fs := cmd.Flags()
	fs.IntVar(&a.Prompt, "prompt", 128, "prompt tokens fed in one batch (prefill)")
	fs.IntVar(&a.Gen, "gen", 64, "tokens decoded one at a time after the prompt (greedy)")
	fs.IntVar(&a.Runs, "runs", 3, "timed runs (the median is reported: with an even count the mean of the middle two) after one warm-up")
	fs.IntSliceVar(&a.Seqs, "seqs", nil, "also time the batched engine with these many calls at once, e.g. 1,4,16 (at most 64; past --max-sequences running sequences calls queue)")
	fs.BoolVar(&a.asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&a.Peer, "peer", "", "also time this command (sh -c) on the same checkpoint and report it beside ours, e.g. an ExLlamaV2 script")
	fs.DurationVar(&a.PeerTimeout, "peer-timeout", 30*time.Minute, "kill the --peer command after this long")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		return runBench(ctx, std, cfg, a)
	})
	return cmd
}

func runBench(ctx context.Context, std stdio, cfg *configs.Config, a benchArgs) error {
	spec, err := localSpec("bench", cfg, std.err)
	switch {
	case err != nil:
		return err
	case a.Prompt < 1 || a.Gen < 1 || a.Runs < 1:
		return usageErr("bench: --prompt, --gen and --runs must be at least 1")
	case slices.ContainsFunc(a.Seqs, func(n int) bool { return n < 1 || n > 64 }):
		return usageErr("bench: --seqs takes 1 to 64 calls at once, not %v", a.Seqs)
	case a.PeerTimeout <= 0:
		return usageErr("bench: --peer-timeout must be positive, not %s", a.PeerTimeout)
	}
	res, err := bench.Run(ctx, spec, a.Options, std.err)
	var long *bench.ContextError
	switch {
	case errors.As(err, &long):
		return usageErr("bench: %v", err)
	case res == nil:
		return err
	case a.asJSON: // err is the peer's, after the report of our figures
		return errors.Join(json.NewEncoder(std.out).Encode(res), err)
	}
	return errors.Join(res.WriteText(std.out), err)
}
