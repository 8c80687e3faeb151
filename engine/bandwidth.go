package engine

import "context"

// BandwidthProber is an optional capability of a Backend (found by type
// assertion): it measures the device's memory read bandwidth now, the rate the
// decode floor is computed at (agent bench). A decode step reads every weight
// once, so bytes per token over this rate is the fastest a token can be.
type BandwidthProber interface {
	// ReadBandwidth returns the best of a few timed passes over a buffer much
	// larger than the caches, in bytes per second, and how it was measured.
	ReadBandwidth(ctx context.Context) (bytesPerSecond float64, how string, err error)
}
