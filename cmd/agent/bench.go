package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/procstat"
)

func init() { addCommand(newBenchCmd) }

// benchResult is what agent bench reports; times are medians over the runs.
type benchResult struct {
	Model          string  `json:"model"`
	Device         string  `json:"device"`
	PromptTokens   int     `json:"prompt_tokens"`
	GenTokens      int     `json:"gen_tokens"`
	Runs           int     `json:"runs"`
	LoadSeconds    float64 `json:"load_s"`
	PrefillSeconds float64 `json:"prefill_s"`
	PrefillTokS    float64 `json:"prefill_tok_s"`
	DecodeMsToken  float64 `json:"decode_ms_per_token"`
	DecodeTokS     float64 `json:"decode_tok_s"`
	DeviceSampling bool    `json:"device_sampling"`
	PeakRSSMiB     float64 `json:"peak_rss_mib,omitempty"`
}

// benchArgs are bench's own flags.
type benchArgs struct {
	prompt, gen, runs int
	asJSON            bool
}

func newBenchCmd() *cobra.Command {
	var a benchArgs
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "measure a model's load time, prompt (prefill) and decode speed on a device",
		Long: "Loads the configured local model, then times a prompt of random ids fed in one\n" +
			"batch and greedy decoding one token at a time, on the path agent generate takes.",
		Args: noArgs,
	}
	conf := configFlagSet(cmd, localGroup)
	fs := cmd.Flags()
	fs.IntVar(&a.prompt, "prompt", 128, "prompt tokens fed in one batch (prefill)")
	fs.IntVar(&a.gen, "gen", 64, "tokens decoded one at a time after the prompt (greedy)")
	fs.IntVar(&a.runs, "runs", 3, "timed runs (the median is reported) after one warm-up")
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
	}
	spec.IDsOnly = true // random ids: no tokenizer needed
	begin := time.Now()
	m, err := open.Model(ctx, spec)
	if err != nil {
		return err
	}
	defer m.Close()
	res := benchResult{Model: spec.Model, PromptTokens: a.prompt, GenTokens: a.gen, Runs: a.runs,
		Device: m.Model.BackendName(), LoadSeconds: time.Since(begin).Seconds(), DeviceSampling: m.Model.SamplesOnDevice()}
	if n := a.prompt + a.gen; n > m.Model.ContextLength() {
		return usageErr("bench: %d prompt + %d generated tokens exceed the context of %d", a.prompt, a.gen, m.Model.ContextLength())
	}
	p, d, err := m.Generator.Bench(ctx, a.prompt, a.gen, a.runs, func(r int, t engine.Result) {
		fmt.Fprintf(std.err, "run %d%s: prefill %.1f ms, decode %.2f ms/token\n", r, map[bool]string{true: " (warm-up)"}[r == 0],
			ms(t.PromptTime), ms(t.GenTime)/float64(a.gen))
	})
	if err != nil {
		return err
	}
	res.PrefillSeconds = p.Seconds()
	res.PrefillTokS = float64(a.prompt) / p.Seconds()
	res.DecodeMsToken = ms(d) / float64(a.gen)
	res.DecodeTokS = float64(a.gen) / d.Seconds()
	res.PeakRSSMiB = procstat.PeakRSSMiB()

	if a.asJSON {
		return json.NewEncoder(std.out).Encode(res)
	}
	_, err = fmt.Fprintf(std.out, "%s on %s: load %.1f s; prefill %d tokens %.1f ms (%.0f tok/s); decode %.2f ms/token (%.1f tok/s, %s sampling); peak RSS %.0f MiB\n",
		res.Model, res.Device, res.LoadSeconds, a.prompt, 1000*res.PrefillSeconds, res.PrefillTokS,
		res.DecodeMsToken, res.DecodeTokS, map[bool]string{true: "device", false: "host"}[res.DeviceSampling], res.PeakRSSMiB)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
