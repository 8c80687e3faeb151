// Package benchreport is agent bench's result: a model's load time and its
// prefill and decode speeds as medians over timed runs, the decode against its
// floor (the bytes a token must read over the read bandwidth measured in the
// same run), the batched engine's throughput at several concurrencies, with the
// progress line of each run and the summary lines.
package benchreport

import (
	"fmt"
	"io"
	"time"
)

// Report is what agent bench reports, as JSON or as a line (WriteText); times are
// medians over the runs.
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
	// The floor, where the backend measures its read bandwidth (SetFloor).
	BytesPerToken int64   `json:"bytes_per_token,omitempty"`
	ReadGBs       float64 `json:"read_gb_s,omitempty"`
	ReadHow       string  `json:"read_how,omitempty"`
	FloorMsToken  float64 `json:"floor_ms_per_token,omitempty"`
	FloorRatio    float64 `json:"floor_ratio,omitempty"` // decode ms over floor ms
	// Batch is the continuous-batching engine's throughput at each --seqs.
	Batch []Batch `json:"batch,omitempty"`
}

// Batch is the batched engine at one concurrency: Seqs calls at once, each a
// prompt of PromptTokens random ids and GenTokens greedy tokens (EOS or not); the
// median run by TokS.
type Batch struct {
	Seqs   int     `json:"seqs"`
	TokS   float64 `json:"tok_s"`   // generated tokens of all calls over the wall time, prefill included
	TTFTms float64 `json:"ttft_ms"` // the median call's time to its first token
	ITLms  float64 `json:"itl_ms"`  // the mean time between a call's later tokens
	// VsOne is TokS over the same engine's TokS at one call, when --seqs has 1.
	VsOne float64 `json:"vs_one,omitempty"`
}

// AddBatch appends the batched engine's figures at one concurrency, and sets every
// point's VsOne once the one-call point is there.
func (r *Report) AddBatch(b Batch) {
	r.Batch = append(r.Batch, b)
	for _, one := range r.Batch {
		if one.Seqs == 1 {
			for i := range r.Batch {
				r.Batch[i].VsOne = r.Batch[i].TokS / one.TokS
			}
			return
		}
	}
}

// SetFloor sets the decode floor: bytesPerToken read at bytesPerSecond (measured
// as how), and the decode's ratio to it; call after SetTimes.
func (r *Report) SetFloor(bytesPerToken int64, bytesPerSecond float64, how string) {
	r.BytesPerToken, r.ReadGBs, r.ReadHow = bytesPerToken, bytesPerSecond/1e9, how
	r.FloorMsToken = 1e3 * float64(bytesPerToken) / bytesPerSecond
	r.FloorRatio = r.DecodeMsToken / r.FloorMsToken
}

// SetTimes sets the speeds from the median prefill of PromptTokens and the median
// decode of GenTokens.
func (r *Report) SetTimes(prefill, decode time.Duration) {
	r.PrefillSeconds = prefill.Seconds()
	r.PrefillTokS = float64(r.PromptTokens) / prefill.Seconds()
	r.DecodeMsToken = ms(decode) / float64(r.GenTokens)
	r.DecodeTokS = float64(r.GenTokens) / decode.Seconds()
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

// WriteText writes the report: a line, then the floor and each concurrency of the
// batched engine where they were measured.
func (r *Report) WriteText(w io.Writer) error {
	sampling := "host"
	if r.DeviceSampling {
		sampling = "device"
	}
	_, err := fmt.Fprintf(w, "%s on %s: load %.1f s; prefill %d tokens %.1f ms (%.0f tok/s); decode %.2f ms/token (%.1f tok/s, %s sampling); peak RSS %.0f MiB\n",
		r.Model, r.Device, r.LoadSeconds, r.PromptTokens, 1000*r.PrefillSeconds, r.PrefillTokS,
		r.DecodeMsToken, r.DecodeTokS, sampling, r.PeakRSSMiB)
	if err != nil {
		return err
	}
	if r.FloorMsToken != 0 {
		_, err = fmt.Fprintf(w, "decode floor %.2f ms/token: %.2f GB a token at %.0f GB/s read (%s); decode is %.2fx the floor\n",
			r.FloorMsToken, float64(r.BytesPerToken)/1e9, r.ReadGBs, r.ReadHow, r.FloorRatio)
		if err != nil {
			return err
		}
	}
	return r.writeBatch(w)
}

// writeBatch writes a line for each concurrency of the batched engine.
func (r *Report) writeBatch(w io.Writer) error {
	for _, b := range r.Batch {
		vs := ""
		if b.VsOne > 0 {
			vs = fmt.Sprintf(", %.2fx one call", b.VsOne)
		}
		calls := "calls"
		if b.Seqs == 1 {
			calls = "call"
		}
		if _, err := fmt.Fprintf(w, "batched, %d %s at once: %.1f tok/s%s (time to first token %.1f ms, between tokens %.2f ms)\n",
			b.Seqs, calls, b.TokS, vs, b.TTFTms, b.ITLms); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
