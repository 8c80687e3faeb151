package engine

import (
	"context"
	"fmt"
)

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

// BatchDeviceSampler is an optional capability of a Backend: DeviceSampler's rule
// applied to several rows of one step's logits in one pass, each with its own
// settings, history and draw, so a batched decode step copies back one id per row
// instead of VocabSize floats.
type BatchDeviceSampler interface {
	// SampleRows picks a token for each of rows, each from its own row of logits
	// (an activation of Vocab columns written by the last Run or RunBatch) as
	// DeviceSampler.Sample does; ids[i] is rows[i]'s token. It may overwrite the
	// rows it samples, so a row is named at most once. A row that cannot be
	// sampled (bad settings or history, logits that give no token) fails alone:
	// the error is then a RowErrors, and the ids of the other rows are valid. Any
	// other error fails the whole call.
	SampleRows(ctx context.Context, logits Tensor, rows []RowSample) (ids []int, err error)
}

// RowSample is one row of a BatchDeviceSampler.SampleRows call: the arguments of
// DeviceSampler.Sample for that row.
type RowSample struct {
	Row      int      // the row of logits
	Sampling Sampling // its settings
	History  []int32  // the ids the repetition penalty looks at
	U        float64  // the uniform draw in [0, 1) (unused when Sampling.Temperature is 0)
}

// RowErrors is SampleRows' error when some rows failed: one entry per row asked
// for, nil where the row's id is valid.
type RowErrors []error

func (e RowErrors) Error() string {
	failed, first := 0, -1
	for i, err := range e {
		if err != nil {
			failed++
			if first < 0 {
				first = i
			}
		}
	}
	switch failed {
	case 0:
		return "no row failed"
	case 1:
		return fmt.Sprintf("rows[%d]: %v", first, e[first])
	}
	return fmt.Sprintf("rows[%d]: %v (and %d more rows failed)", first, e[first], failed-1)
}

// Unwrap returns the rows' errors, for errors.Is and errors.As.
func (e RowErrors) Unwrap() []error {
	var errs []error
	for _, err := range e {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
