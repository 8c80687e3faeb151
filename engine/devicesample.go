package engine

import "context"

// DeviceSampler is an optional capability of a Backend: picking the next token where
// the logits are, so that decoding copies back one id instead of VocabSize floats.
// It follows the same Hugging Face order and semantics as the host sampler
// (repetition penalty over the distinct ids of history, temperature, top-k, top-p),
// drawing with u instead of its own generator.
type DeviceSampler interface {
	// Sample picks a token from row row of logits (an activation of Vocab columns
	// written by the last Run), which it may overwrite. u is a uniform draw in [0, 1)
	// (unused when s.Temperature is 0): the token is the first, in id order, at which
	// the cumulative probability exceeds u.
	Sample(ctx context.Context, logits Tensor, row int, s Sampling, history []int32, u float64) (int, error)
}
