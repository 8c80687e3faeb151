// Package benchreport is agent bench's result: a model's load time and its
// prefill and decode speeds as medians over timed runs, the decode against its
// floor (the bytes a token must read over the read bandwidth measured in the
// same run), with the progress line of each run and the one-line summary.
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

// WriteText writes the report as one line.
func (r *Report) WriteText(w io.Writer) error {
	sampling := "host"
	if r.DeviceSampling {
		sampling = "device"
	}
	_, err := fmt.Fprintf(w, "%s on %s: load %.1f s; prefill %d tokens %.1f ms (%.0f tok/s); decode %.2f ms/token (%.1f tok/s, %s sampling); peak RSS %.0f MiB\n",
		r.Model, r.Device, r.LoadSeconds, r.PromptTokens, 1000*r.PrefillSeconds, r.PrefillTokS,
		r.DecodeMsToken, r.DecodeTokS, sampling, r.PeakRSSMiB)
	if err != nil || r.FloorMsToken == 0 {
		return err
	}
	_, err = fmt.Fprintf(w, "decode floor %.2f ms/token: %.2f GB a token at %.0f GB/s read (%s); decode is %.2fx the floor\n",
		r.FloorMsToken, float64(r.BytesPerToken)/1e9, r.ReadGBs, r.ReadHow, r.FloorRatio)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
