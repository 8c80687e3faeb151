// Package benchreport is agent bench's result: a model's load time and its
// prefill and decode speeds as medians over timed runs, each against its limit
// measured in the same run (the decode against the bytes a step must read over
// the read bandwidth, the prefill against its multiply-adds over the tensor-core
// rate), the batched engine at several concurrencies and a peer's times beside
// them, with the progress line of each run and the summary tables.
package benchreport

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what agent bench reports, as JSON or as tables (WriteText); times are
// medians over the runs. A percentage of the floor is the floor's time over the
// time measured: 100% is at the limit.
type Report struct {
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
	// The decode floor, where the backend measures its read bandwidth (SetFloor):
	// a step of n sequences reads WeightBytes once and KVBytes of each, at the
	// decode's middle position; BytesPerToken is the one-sequence step's.
	BytesPerToken int64   `json:"bytes_per_token,omitempty"`
	WeightBytes   int64   `json:"weight_bytes,omitempty"`
	KVBytes       int64   `json:"kv_bytes_per_seq,omitempty"`
	ReadGBs       float64 `json:"read_gb_s,omitempty"`
	ReadHow       string  `json:"read_how,omitempty"`
	FloorMsToken  float64 `json:"floor_ms_per_token,omitempty"`
	FloorRatio    float64 `json:"floor_ratio,omitempty"` // decode ms over floor ms
	FloorPct      float64 `json:"floor_pct,omitempty"`
	// The prefill floor, where the backend measures its tensor-core rate
	// (SetCompute): 2·Weights·PromptTokens operations at TensorTFLOPs.
	Weights         int64   `json:"weights,omitempty"` // multiply-adds a token
	TensorTFLOPs    float64 `json:"tensor_tflop_s,omitempty"`
	TensorHow       string  `json:"tensor_how,omitempty"`
	PrefillFloorS   float64 `json:"prefill_floor_s,omitempty"`
	PrefillFloorPct float64 `json:"prefill_floor_pct,omitempty"`
	// Batch is the continuous-batching engine's throughput at each --seqs.
	Batch []Batch `json:"batch,omitempty"`
	// Peer is the peer command's times (--peer), a point per batch size it timed.
	Peer []Peer `json:"peer,omitempty"`
	// PeerError is why the peer gave no times, when it failed.
	PeerError string `json:"peer_error,omitempty"`
}

// Batch is the batched engine at one concurrency: Seqs calls at once, each a
// prompt of PromptTokens random ids and GenTokens greedy tokens (EOS or not); the
// median run by TokS.
type Batch struct {
	Seqs int `json:"seqs"`
	// Running is the most sequences one decode step carried: Seqs, or fewer when
	// the engine's limit or its paged cache held the rest back.
	Running int     `json:"running"`
	TokS    float64 `json:"tok_s"`   // generated tokens of all calls over the wall time, prefill included
	TTFTms  float64 `json:"ttft_ms"` // the median call's time to its first token
	ITLms   float64 `json:"itl_ms"`  // the mean time between a call's later tokens
	// StepMs is the mean time of the run's full decode steps (every running
	// sequence decoding, no prompt chunk beside them), 0 when there was none;
	// ITLms also counts the steps a call shared with other calls' prompts.
	StepMs float64 `json:"step_ms,omitempty"`
	// VsOne is TokS over the same engine's TokS at one call, when --seqs has 1.
	VsOne float64 `json:"vs_one,omitempty"`
	// The floor of a step of Running sequences, with the floor set: its bytes
	// over its Running tokens, its time, and that over the step's (Step).
	BytesPerToken int64   `json:"bytes_per_token,omitempty"`
	FloorMsStep   float64 `json:"floor_ms_per_step,omitempty"`
	FloorPct      float64 `json:"floor_pct,omitempty"`
}

// Step is a decode step of b's Running sequences: StepMs, or ITLms when the run
// had no full step.
func (b Batch) Step() float64 {
	if b.StepMs > 0 {
		return b.StepMs
	}
	return b.ITLms
}

// Peer is the peer's times at one batch size, against the same floors as ours
// (it reads the same checkpoint on the same device): a decode step of Seqs
// sequences, the prefill of Seqs prompts.
type Peer struct {
	Name            string  `json:"name"`
	Seqs            int     `json:"seqs"`
	PrefillSeconds  float64 `json:"prefill_s,omitempty"`
	PrefillTokS     float64 `json:"prefill_tok_s,omitempty"`
	PrefillFloorS   float64 `json:"prefill_floor_s,omitempty"`
	PrefillFloorPct float64 `json:"prefill_floor_pct,omitempty"`
	DecodeMsToken   float64 `json:"decode_ms_per_token,omitempty"` // a step of all Seqs
	DecodeTokS      float64 `json:"decode_tok_s,omitempty"`        // Seqs tokens a step
	BytesPerToken   int64   `json:"bytes_per_token,omitempty"`
	FloorMsStep     float64 `json:"floor_ms_per_step,omitempty"`
	FloorPct        float64 `json:"floor_pct,omitempty"`
}

// AddBatch appends the batched engine's figures at one concurrency (Running 0
// means Seqs), and sets every point's VsOne once the one-call point is there.
func (r *Report) AddBatch(b Batch) {
	if b.Running == 0 {
		b.Running = b.Seqs
	}
	r.Batch = append(r.Batch, b)
	r.limits()
}

// AddPeer appends the peer's times at seqs sequences: the seconds to prefill
// their prompts and the milliseconds of a decode step, either 0 when not timed.
func (r *Report) AddPeer(name string, seqs int, prefillS, decodeMs float64) {
	r.Peer = append(r.Peer, Peer{Name: name, Seqs: seqs, PrefillSeconds: prefillS, DecodeMsToken: decodeMs})
	r.limits()
}

// SetFloor sets the decode floor: a step reads weightBytes once and kvBytes of
// each sequence, at bytesPerSecond (measured as how).
func (r *Report) SetFloor(weightBytes, kvBytes int64, bytesPerSecond float64, how string) {
	r.WeightBytes, r.KVBytes, r.ReadGBs, r.ReadHow = weightBytes, kvBytes, bytesPerSecond/1e9, how
	r.limits()
}

// SetCompute sets the prefill floor: weights multiply-adds a token at
// flopsPerSecond (measured as how).
func (r *Report) SetCompute(weights int64, flopsPerSecond float64, how string) {
	r.Weights, r.TensorTFLOPs, r.TensorHow = weights, flopsPerSecond/1e12, how
	r.limits()
}

// SetTimes sets the speeds from the median prefill of PromptTokens and the median
// decode of GenTokens.
func (r *Report) SetTimes(prefill, decode time.Duration) {
	r.PrefillSeconds = prefill.Seconds()
	r.PrefillTokS = float64(r.PromptTokens) / prefill.Seconds()
	r.DecodeMsToken = ms(decode) / float64(r.GenTokens)
	r.DecodeTokS = float64(r.GenTokens) / decode.Seconds()
	r.limits()
}

// limits recomputes every figure derived from the times and the limits, so the
// setters can come in any order.
func (r *Report) limits() {
	if r.ReadGBs > 0 {
		r.BytesPerToken = r.WeightBytes + r.KVBytes
		r.FloorMsToken = r.stepFloorMs(1)
		if r.FloorMsToken > 0 {
			r.FloorRatio = r.DecodeMsToken / r.FloorMsToken
		}
		r.FloorPct = pct(r.FloorMsToken, r.DecodeMsToken)
	}
	if r.TensorTFLOPs > 0 {
		r.PrefillFloorS = r.prefillFloorS(1)
		r.PrefillFloorPct = pct(r.PrefillFloorS, r.PrefillSeconds)
	}
	var one float64
	for _, b := range r.Batch {
		if b.Seqs == 1 {
			one = b.TokS
		}
	}
	for i := range r.Batch {
		b := &r.Batch[i]
		if one > 0 {
			b.VsOne = b.TokS / one
		}
		if r.ReadGBs > 0 {
			b.BytesPerToken = r.stepBytes(b.Running) / int64(b.Running)
			b.FloorMsStep = r.stepFloorMs(b.Running)
			b.FloorPct = pct(b.FloorMsStep, b.Step())
		}
	}
	for i := range r.Peer {
		p := &r.Peer[i]
		if p.PrefillSeconds > 0 {
			p.PrefillTokS = float64(p.Seqs*r.PromptTokens) / p.PrefillSeconds
		}
		if p.DecodeMsToken > 0 {
			p.DecodeTokS = 1e3 * float64(p.Seqs) / p.DecodeMsToken
		}
		if r.ReadGBs > 0 {
			p.BytesPerToken = r.stepBytes(p.Seqs) / int64(p.Seqs)
			p.FloorMsStep = r.stepFloorMs(p.Seqs)
			p.FloorPct = pct(p.FloorMsStep, p.DecodeMsToken)
		}
		if r.TensorTFLOPs > 0 {
			p.PrefillFloorS = r.prefillFloorS(p.Seqs)
			p.PrefillFloorPct = pct(p.PrefillFloorS, p.PrefillSeconds)
		}
	}
}

// stepBytes is what a decode step of n sequences reads.
func (r *Report) stepBytes(n int) int64 { return r.WeightBytes + int64(n)*r.KVBytes }

func (r *Report) stepFloorMs(n int) float64 { return float64(r.stepBytes(n)) / (r.ReadGBs * 1e6) }

// prefillFloorS is the prefill of n prompts at the tensor-core rate.
func (r *Report) prefillFloorS(n int) float64 {
	return 2 * float64(r.Weights) * float64(n*r.PromptTokens) / (r.TensorTFLOPs * 1e12)
}

// pct is floor over measured in percent, 0 when either is unknown.
func pct(floor, measured float64) float64 {
	if floor <= 0 || measured <= 0 {
		return 0
	}
	return 100 * floor / measured
}

// WriteRun writes the progress line of run n (0 is the warm-up): its prefill,
// and its decode of gen tokens.
func WriteRun(w io.Writer, n, gen int, prefill, decode time.Duration) {
	warm := ""
	if n == 0 {
		warm = " (warm-up)"
	}
	fmt.Fprintf(w, "run %d%s: prefill %.1f ms, decode %.2f ms/token\n", n, warm, ms(prefill), ms(decode)/float64(gen))
}

// WriteText writes the report: a line on the run, one on the limits measured,
// the prefill and decode tables (ours, the batched engine's and the peer's rows,
// each against its floor; "-" where a figure was not measured), then the
// batched engine's throughput at each concurrency, and why the peer has no rows
// when it failed.
func (r *Report) WriteText(w io.Writer) error {
	sampling := "host"
	if r.DeviceSampling {
		sampling = "device"
	}
	var b strings.Builder
	runs := "runs"
	if r.Runs == 1 {
		runs = "run"
	}
	fmt.Fprintf(&b, "%s on %s: load %.1f s, peak RSS %.0f MiB, %s sampling; %d prompt tokens, %d generated, median of %d %s\n",
		r.Model, r.Device, r.LoadSeconds, r.PeakRSSMiB, sampling, r.PromptTokens, r.GenTokens, r.Runs, runs)
	var lim []string
	if r.ReadGBs > 0 {
		lim = append(lim, fmt.Sprintf("read %.0f GB/s (%s)", r.ReadGBs, r.ReadHow))
	}
	if r.TensorTFLOPs > 0 {
		lim = append(lim, fmt.Sprintf("tensor cores %.1f TFLOP/s (%s)", r.TensorTFLOPs, r.TensorHow))
	}
	if len(lim) > 0 {
		fmt.Fprintf(&b, "limits measured in this run: %s\n", strings.Join(lim, "; "))
	}
	if r.Weights > 0 {
		fmt.Fprintf(&b, "prefill floor: 2 x %.2f G operations a token (a multiply-add a weight), over the tensor-core rate\n", float64(r.Weights)/1e9)
	}
	if r.ReadGBs > 0 {
		fmt.Fprintf(&b, "decode floor: a step reads %s of weights once and %s of cache a sequence, over the read bandwidth\n",
			bytesText(r.WeightBytes), bytesText(r.KVBytes))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "prefill\tseqs\ttokens\tms\ttok/s\tfloor ms\t% of floor")
	fmt.Fprintf(tw, "agent\t1\t%d\t%.1f\t%.0f\t%s\t%s\n", r.PromptTokens, 1e3*r.PrefillSeconds, r.PrefillTokS,
		opt("%.1f", 1e3*r.PrefillFloorS), opt("%.1f%%", r.PrefillFloorPct))
	for _, p := range r.Peer {
		if p.PrefillSeconds > 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.0f\t%s\t%s\n", p.Name, p.Seqs, p.Seqs*r.PromptTokens, 1e3*p.PrefillSeconds,
				p.PrefillTokS, opt("%.1f", 1e3*p.PrefillFloorS), opt("%.1f%%", p.PrefillFloorPct))
		}
	}
	fmt.Fprintln(tw, "decode\tseqs\tms/step\ttok/s\tbytes/token\tfloor ms/step\t% of floor")
	fmt.Fprintf(tw, "agent\t1\t%.2f\t%.1f\t%s\t%s\t%s\n", r.DecodeMsToken, r.DecodeTokS,
		bytesText(r.BytesPerToken), opt("%.2f", r.FloorMsToken), opt("%.1f%%", r.FloorPct))
	for _, x := range r.Batch {
		seqs := fmt.Sprint(x.Seqs)
		if x.Running != x.Seqs {
			seqs = fmt.Sprintf("%d (%d running)", x.Seqs, x.Running)
		}
		tokS := 0.0
		if x.Step() > 0 {
			tokS = 1e3 * float64(x.Running) / x.Step()
		}
		fmt.Fprintf(tw, "agent batched\t%s\t%s\t%s\t%s\t%s\t%s\n", seqs, opt("%.2f", x.Step()), opt("%.1f", tokS),
			bytesText(x.BytesPerToken), opt("%.2f", x.FloorMsStep), opt("%.1f%%", x.FloorPct))
	}
	for _, p := range r.Peer {
		if p.DecodeMsToken > 0 {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%s\t%s\t%s\n", p.Name, p.Seqs, p.DecodeMsToken, p.DecodeTokS,
				bytesText(p.BytesPerToken), opt("%.2f", p.FloorMsStep), opt("%.1f%%", p.FloorPct))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Batch {
		vs := ""
		if x.VsOne > 0 {
			vs = fmt.Sprintf(", %.2fx one call", x.VsOne)
		}
		calls := "calls"
		if x.Seqs == 1 {
			calls = "call"
		}
		full := ""
		if x.StepMs > 0 {
			full = fmt.Sprintf(", full decode steps %.2f ms", x.StepMs)
		}
		fmt.Fprintf(&b, "batched, %d %s at once: %.1f tok/s%s (time to first token %.1f ms, between tokens %.2f ms%s)\n",
			x.Seqs, calls, x.TokS, vs, x.TTFTms, x.ITLms, full)
	}
	if r.PeerError != "" {
		fmt.Fprintf(&b, "no peer times: %s\n", r.PeerError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// opt formats v, or "-" when it is 0 (not measured).
func opt(format string, v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// bytesText is n in decimal units (as GB/s are), three significant digits, or
// "-" when 0 (not measured).
func bytesText(n int64) string {
	if n == 0 {
		return "-"
	}
	v, unit := float64(n), "B"
	for _, u := range []string{"kB", "MB", "GB"} {
		if v < 999.5 {
			break
		}
		v, unit = v/1000, u
	}
	digits := 2
	switch {
	case v >= 99.95 || unit == "B":
		digits = 0
	case v >= 9.995:
		digits = 1
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + " " + unit
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
