package cpu

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// probeWords is the buffer ReadBandwidth reads: 256 MiB of uint64, far past the
// last-level cache of any CPU this runs on.
const probeWords = 256 << 20 / 8

// probePasses is how many timed passes ReadBandwidth takes the best of.
const probePasses = 3

// ReadBandwidth implements engine.BandwidthProber: GOMAXPROCS goroutines sum
// their share of a 256 MiB buffer; the best of three passes.
func (b *Backend) ReadBandwidth(ctx context.Context) (float64, string, error) {
	buf := make([]uint64, probeWords)
	for i := range buf {
		buf[i] = uint64(i)
	}
	workers := runtime.GOMAXPROCS(0)
	sums := make([]uint64, workers)
	best := time.Duration(0)
	for range probePasses {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				lo, hi := w*len(buf)/workers, (w+1)*len(buf)/workers
				var s uint64
				for _, x := range buf[lo:hi] {
					s += x
				}
				sums[w] = s
			})
		}
		wg.Wait()
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	runtime.KeepAlive(sums)
	return float64(len(buf)*8) / best.Seconds(), "sum of a 256 MiB buffer, best of 3", nil
}
