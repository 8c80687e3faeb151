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

// TensorProber is an optional capability of a Backend (found by type assertion): it
// measures the rate of the matrix instruction the prompt's products run on, the
// rate the prefill floor is computed at (agent bench). A prompt of n tokens does
// 2·n multiply-adds per weight, so that over this rate is the fastest a prefill
// can be.
type TensorProber interface {
	// TensorRate returns the best of a few timed passes of the instruction from
	// registers on every multiprocessor, in floating-point operations per second
	// (a multiply-add is two), and how it was measured.
	TensorRate(ctx context.Context) (flopsPerSecond float64, how string, err error)
}
