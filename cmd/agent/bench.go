package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/benchpeer"
	"github.com/rewoo-agent/agent/internal/benchreport"
	"github.com/rewoo-agent/agent/internal/procstat"
)

func init() { addCommand(newBenchCmd) }

// benchArgs are bench's own flags.
type benchArgs struct {
	prompt, gen, runs int
	seqs              []int
	asJSON            bool
	peer              string
	peerTimeout       time.Duration
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
	fs.IntVar(&a.prompt, "prompt", 128, "prompt tokens fed in one batch (prefill)")
	fs.IntVar(&a.gen, "gen", 64, "tokens decoded one at a time after the prompt (greedy)")
	fs.IntVar(&a.runs, "runs", 3, "timed runs (the median is reported) after one warm-up")
	fs.IntSliceVar(&a.seqs, "seqs", nil, "also time the batched engine with these many calls at once, e.g. 1,4,16 (at most 64; past the engine's 16 running sequences calls queue)")
	fs.BoolVar(&a.asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&a.peer, "peer", "", "also time this command (sh -c) on the same checkpoint and report it beside ours, e.g. an ExLlamaV2 script")
	fs.DurationVar(&a.peerTimeout, "peer-timeout", 30*time.Minute, "kill the --peer command after this long")
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
	case a.peerTimeout <= 0:
		return usageErr("bench: --peer-timeout must be positive, not %s", a.peerTimeout)
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
		kv := m.Model.KVBytes(a.prompt + a.gen/2)
		res.SetFloor(m.Model.DecodeBytes(a.prompt+a.gen/2)-kv, kv, bw, how)
	}
	if rate, how, ok, err := m.Model.TensorRate(ctx); err != nil {
		return err
	} else if ok {
		res.SetCompute(m.Model.Weights(), rate, how)
	}
	dir := m.Dir
	if len(a.seqs) > 0 || a.peer != "" {
		// One model in memory at a time: a 65B checkpoint does not fit twice.
		if err := m.Close(); err != nil {
			return err
		}
		m = nil
	}
	if len(a.seqs) > 0 {
		if err := benchBatched(ctx, spec, a, &res); err != nil {
			return err
		}
	}
	var peerErr error
	if a.peer != "" { // a failing peer still lets the report out with our figures
		peerErr = benchPeer(ctx, std, a, benchpeer.Job{Model: dir, Device: spec.Device, PromptTokens: a.prompt,
			GenTokens: a.gen, Runs: a.runs, Seqs: benchpeer.BatchSizes(a.seqs)}, &res)
	}
	res.PeakRSSMiB = procstat.PeakRSSMiB()
	if a.asJSON {
		return errors.Join(json.NewEncoder(std.out).Encode(res), peerErr)
	}
	return errors.Join(res.WriteText(std.out), peerErr)
}

// benchPeer runs the --peer command for job and adds its points to res, or its
// error to res and returns it.
func benchPeer(ctx context.Context, std stdio, a benchArgs, job benchpeer.Job, res *benchreport.Report) error {
	pts, err := benchpeer.Run(ctx, a.peer, job, std.err, a.peerTimeout)
	if err != nil {
		err = fmt.Errorf("bench --peer: %w", err)
		res.PeerError = err.Error()
		return err
	}
	for _, p := range pts {
		res.AddPeer(p.Name, p.Seqs, p.PrefillS, p.DecodeMsToken)
	}
	return nil
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
		res.AddBatch(benchreport.Batch{Seqs: p.Seqs, Running: p.Running, TokS: p.TokS, TTFTms: p.TTFTms, ITLms: p.ITLms})
	}
	return nil
}
