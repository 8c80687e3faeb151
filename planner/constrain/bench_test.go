package constrain

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkMask measures the constraint's cost per token while decoding the valid
// plans of planparser's corpus over the LLaMA vocabulary: Mask, Forced and
// Advance for each of their tokens. cold empties the mask cache before every
// token, plan before every plan (the hits a plan gives itself), warm never (every
// mask cached). It reports the median and 99th percentile per token.
func BenchmarkMask(b *testing.B) {
	ix := llamaIndex(b)
	tok := llama(b)
	var plans [][]int
	for _, p := range corpus(b) {
		if valid(p.src) == nil {
			plans = append(plans, tok.Encode(p.src))
		}
	}
	for _, mode := range []string{"cold", "plan", "warm"} {
		b.Run(mode, func(b *testing.B) {
			ix.ResetCache()
			var times []time.Duration
			run := func(record bool) {
				for _, ids := range plans {
					if mode == "plan" {
						ix.ResetCache()
					}
					d, err := ix.NewDecoder(0)
					if err != nil {
						b.Fatal(err)
					}
					for _, id := range ids {
						if mode == "cold" {
							ix.ResetCache()
						}
						t0 := time.Now()
						m := d.Mask()
						d.Forced()
						if !m.Has(id) {
							b.Fatalf("token %d refused after %q", id, d.Text())
						}
						if err := d.Advance(id); err != nil {
							b.Fatal(err)
						}
						if record {
							times = append(times, time.Since(t0))
						}
					}
				}
			}
			if mode == "warm" {
				run(false)
			}
			for b.Loop() {
				run(true)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "µs/token-p50")
			b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1e3, "µs/token-p99")
			b.ReportMetric(float64(len(times))/float64(b.N), "tokens/op")
		})
	}
}
