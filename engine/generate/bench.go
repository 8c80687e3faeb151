package generate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// Bench times the decode path (Time) over a prompt of promptLen ids and n
// decoded tokens: one warm-up run (graph capture, caches), then runs timed
// ones, and returns their median prompt and generation times. The ids are
// random past the byte pieces: speed does not depend on which tokens they are.
// report, if not nil, gets each run's timing, the warm-up as run 0.
func (g *Generator) Bench(ctx context.Context, promptLen, n, runs int, report func(run int, t engine.Result)) (prefill, decode time.Duration, err error) {
	if promptLen < 1 || n < 1 || runs < 1 {
		return 0, 0, fmt.Errorf("bench: need a prompt, a token to decode and a run, have %d, %d and %d", promptLen, n, runs)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int, promptLen)
	for i := range prompt {
		prompt[i] = 3 + rng.IntN(max(g.model.VocabSize()-3, 1))
	}
	var prefills, decodes []time.Duration
	for r := range runs + 1 {
		t, err := g.Time(ctx, prompt, n)
		if err != nil {
			return 0, 0, err
		}
		if r > 0 {
			prefills, decodes = append(prefills, t.PromptTime), append(decodes, t.GenTime)
		}
		if report != nil {
			report(r, t)
		}
	}
	return median(prefills), median(decodes), nil
}

// median is the middle of ds, or with an even count the mean of the two middle ones
// (as Python's statistics.median, which peers' scripts use).
func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
