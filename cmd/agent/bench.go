package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/sample"
)

func init() {
	register(command{
		name:    "bench",
		summary: "measure a model's load time, prompt (prefill) and decode speed on a device",
		run:     runBench,
	})
}

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

func runBench(ctx context.Context, io stdio, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.err)
	model := fs.String("model", "", "model folder (GPTQ checkpoint) or hub reference org/name[:branch]")
	pull := fs.Bool("pull", false, pullFlagUsage)
	device := fs.String("device", "auto", deviceUsage)
	promptLen := fs.Int("prompt", 128, "prompt tokens fed in one batch (prefill)")
	genLen := fs.Int("gen", 64, "tokens decoded one at a time after the prompt (greedy)")
	runs := fs.Int("runs", 3, "timed runs (the median is reported) after one warm-up")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: agent bench --model DIR|ORG/NAME[:BRANCH] [--pull] [--device auto|cpu|cuda] [--prompt N] [--gen M] [--runs R] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	switch {
	case *model == "" || fs.NArg() != 0:
		fs.Usage()
		return exitError{2, fmt.Errorf("bench: need --model DIR and no arguments")}
	case *promptLen < 1 || *genLen < 1 || *runs < 1:
		return exitError{2, fmt.Errorf("bench: --prompt, --gen and --runs must be at least 1")}
	}

	dir, err := resolveModel(ctx, *model, *pull, io.err)
	if err != nil {
		return err
	}
	begin := time.Now()
	m, err := openModel(ctx, dir, *device, io.err)
	if err != nil {
		return err
	}
	defer m.Close()
	res := benchResult{Model: *model, PromptTokens: *promptLen, GenTokens: *genLen, Runs: *runs,
		Device: m.BackendName(), LoadSeconds: time.Since(begin).Seconds(), DeviceSampling: m.SamplesOnDevice()}
	if n := *promptLen + *genLen; n > m.ContextLength() {
		return exitError{2, fmt.Errorf("bench: %d prompt + %d generated tokens exceed the context of %d", *promptLen, *genLen, m.ContextLength())}
	}
	// Random ids past the byte pieces: speed does not depend on which tokens they are.
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int, *promptLen)
	for i := range prompt {
		prompt[i] = 3 + rng.IntN(m.VocabSize()-3)
	}

	var prefill, decode []time.Duration
	for r := range *runs + 1 {
		p, d, err := benchRun(ctx, m, prompt, *genLen)
		if err != nil {
			return err
		}
		if r > 0 { // the first run warms up (graph capture, caches)
			prefill, decode = append(prefill, p), append(decode, d)
		}
		fmt.Fprintf(io.err, "run %d%s: prefill %.1f ms, decode %.2f ms/token\n", r, map[bool]string{true: " (warm-up)"}[r == 0],
			ms(p), ms(d)/float64(*genLen))
	}
	slices.Sort(prefill)
	slices.Sort(decode)
	p, d := prefill[len(prefill)/2], decode[len(decode)/2]
	res.PrefillSeconds = p.Seconds()
	res.PrefillTokS = float64(*promptLen) / p.Seconds()
	res.DecodeMsToken = ms(d) / float64(*genLen)
	res.DecodeTokS = float64(*genLen) / d.Seconds()
	res.PeakRSSMiB = peakRSSMiB()

	if *asJSON {
		return json.NewEncoder(io.out).Encode(res)
	}
	_, err = fmt.Fprintf(io.out, "%s on %s: load %.1f s; prefill %d tokens %.1f ms (%.0f tok/s); decode %.2f ms/token (%.1f tok/s, %s sampling); peak RSS %.0f MiB\n",
		res.Model, res.Device, res.LoadSeconds, *promptLen, 1000*res.PrefillSeconds, res.PrefillTokS,
		res.DecodeMsToken, res.DecodeTokS, map[bool]string{true: "device", false: "host"}[res.DeviceSampling], res.PeakRSSMiB)
	return err
}

// benchRun feeds prompt from position 0 (rewinding the cache) in one batch, then
// decodes gen tokens greedily one at a time, as agent generate does.
func benchRun(ctx context.Context, m *llama.Model, prompt []int, gen int) (prefill, decode time.Duration, err error) {
	greedy := engine.Sampling{}
	sampler, err := sample.New(greedy, m.VocabSize())
	if err != nil {
		return 0, 0, err
	}
	next := func(ids []int, start int) (int, error) {
		if m.SamplesOnDevice() {
			return m.ForwardSample(ctx, ids, start, greedy, nil, 0)
		}
		logits, err := m.Forward(ctx, ids, start, 1)
		if err != nil {
			return 0, err
		}
		return sampler.Sample(logits)
	}
	begin := time.Now()
	id, err := next(prompt, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("prefill: %w", err)
	}
	prefill = time.Since(begin)
	begin = time.Now()
	for i := range gen {
		if id, err = next([]int{id}, len(prompt)+i); err != nil {
			return 0, 0, fmt.Errorf("decode step %d: %w", i, err)
		}
	}
	return prefill, time.Since(begin), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// peakRSSMiB reads the process's peak resident memory (VmHWM) where Linux reports it.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
