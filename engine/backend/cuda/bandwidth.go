//go:build cuda

package cuda

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorgonia.org/cu"
)

// probeBytes is each of the two buffers ReadBandwidth copies between: 1 GiB,
// twenty times an H200's L2.
const probeBytes = 1 << 30

// probePasses is how many timed copies ReadBandwidth takes the best of.
const probePasses = 5

// ReadBandwidth implements engine.BandwidthProber: a device-to-device copy of
// 1 GiB, read and write both counted, the best of five (on an H200 this is
// within 2% of a read-only kernel's rate: REFERENCE.md). It needs 2 GiB free.
func (b *Backend) ReadBandwidth(ctx context.Context) (float64, string, error) {
	var best time.Duration
	err := b.th.Do(ctx, func() (err error) {
		src, err := cu.MemAlloc(probeBytes)
		if err != nil {
			return fmt.Errorf("cuda: bandwidth probe: %w", err)
		}
		defer func() { err = errors.Join(err, cu.MemFree(src)) }()
		dst, err := cu.MemAlloc(probeBytes)
		if err != nil {
			return fmt.Errorf("cuda: bandwidth probe: %w", err)
		}
		defer func() { err = errors.Join(err, cu.MemFree(dst)) }()
		if err := cu.MemcpyDtoD(dst, src, probeBytes); err != nil { // warm-up
			return err
		}
		if err := cu.Synchronize(); err != nil {
			return err
		}
		for range probePasses {
			start := time.Now()
			if err := cu.MemcpyDtoD(dst, src, probeBytes); err != nil {
				return err
			}
			if err := cu.Synchronize(); err != nil {
				return err
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return 2 * probeBytes / best.Seconds(), "device-to-device copy of 1 GiB, read and write counted, best of 5", nil
}
