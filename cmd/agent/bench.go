package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/benchreport"
	"github.com/rewoo-agent/agent/internal/procstat"
)

func init() { addCommand(newBenchCmd) }

// benchArgs are bench's own flags.
type benchArgs struct {
	prompt, gen, runs int
	seqs              []int
	asJSON            bool
}

func newBenchCmd() *cobra.Command {
	var a benchArgs
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "measure a model's load time, prompt (prefill) and decode speed on a device",
		Long: "Loads the configured local model, then times a prompt of random ids fed in one\n" +
			"batch and greedy decoding one token at a time, on the path agent generate takes,\n" +
			"and reports the decode against its floor: the bytes a token must read (every\n" +
			"weight, scale and zero, the output layer and the cache) over the read bandwidth\n" +
			"the backend measures in the same run. With --seqs it then loads the model into\n" +
			"the continuous-batching engine (the one ask, batch and serve use) and reports its\n" +
			"throughput with that many calls at once, each its own random prompt.",
		Args: noArgs,
	}
	conf := configFlagSet(cmd, localGroup)
	fs := cmd.Flags()
	fs.IntVar(&a.prompt, "prompt", 128, "prompt tokens fed in one batch (prefill)")
	fs.IntVar(&a.gen, "gen", 64, "tokens decoded one at a time after the prompt (greedy)")
	fs.IntVar(&a.runs, "runs", 3, "timed runs (the median is reported) after one warm-up")
	fs.IntSliceVar(&a.seqs, "seqs", nil, "also time the batched engine with these many calls at once, e.g. 1,4,16 (at most 64; past the engine's 16 running sequences calls queue)")
	fs.BoolVar(&a.asJSON, "json", false, "print the result as JSON")
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
	case a.prompt < 1 || a.gen < 1 || a.runs < 1:
		return usageErr("bench: --prompt, --gen and --runs must be at least 1")
	case slices.ContainsFunc(a.seqs, func(n int) bool { return n < 1 || n > 64 }):
		return usageErr("bench: --seqs takes 1 to 64 calls at once, not %v", a.seqs)
	}
	spec.IDsOnly = true // random ids: no tokenizer needed
	begin := time.Now()
	m, err := open.Model(ctx, spec)
	if err != nil {
		return err
	}
	defer func() {
		if m != nil {
			m.Close()
		}
	}()
	res := benchreport.Report{Model: spec.Model, PromptTokens: a.prompt, GenTokens: a.gen, Runs: a.runs,
		Device: m.Model.BackendName(), LoadSeconds: time.Since(begin).Seconds(), DeviceSampling: m.Model.SamplesOnDevice()}
	if n := a.prompt + a.gen; n > m.Model.ContextLength() {
		return usageErr("bench: %d prompt + %d generated tokens exceed the context of %d", a.prompt, a.gen, m.Model.ContextLength())
	}
	p, d, err := m.Generator.Bench(ctx, a.prompt, a.gen, a.runs, func(r int, t engine.Result) { benchreport.WriteRun(std.err, r, a.gen, t.PromptTime, t.GenTime) })
	if err != nil {
		return err
	}
	res.SetTimes(p, d)
	if bw, how, ok, err := m.Model.ReadBandwidth(ctx); err != nil {
		return err
	} else if ok { // the floor at the decode's middle position
		res.SetFloor(m.Model.DecodeBytes(a.prompt+a.gen/2), bw, how)
	}
	if len(a.seqs) > 0 {
		// One model in memory at a time: a 65B checkpoint does not fit twice.
		if err := m.Close(); err != nil {
			return err
		}
		m = nil
		if err := benchBatched(ctx, spec, a, &res); err != nil {
			return err
		}
	}
	res.PeakRSSMiB = procstat.PeakRSSMiB()
	if a.asJSON {
		return json.NewEncoder(std.out).Encode(res)
	}
	return res.WriteText(std.out)
}

// benchBatched loads spec's model into the continuous-batching engine and adds its
// throughput at each of a.seqs calls at once to res.
func benchBatched(ctx context.Context, spec open.Spec, a benchArgs, res *benchreport.Report) error {
	llm, closeLLM, err := open.LLM(ctx, spec)
	if err != nil {
		return err
	}
	defer closeLLM()
	sched, ok := llm.(*batch.Scheduler)
	if !ok {
		return fmt.Errorf("bench --seqs: the %s backend has no paged cache, so no batched engine", res.Device)
	}
	for _, n := range a.seqs {
		p, err := sched.Bench(ctx, n, a.prompt, a.gen, a.runs)
		if err != nil {
			return err
		}
		res.AddBatch(benchreport.Batch{Seqs: p.Seqs, TokS: p.TokS, TTFTms: p.TTFTms, ITLms: p.ITLms})
	}
	return nil
}
