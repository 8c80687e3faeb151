//go:build cuda

package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// errNoToken is Sample's and SampleRows' error for a row whose logits give no token.
var errNoToken = errors.New("the logits gave no token (NaN or all -Inf)")

// Sample picks the next token on the device and copies back only its id.
func (b *Backend) Sample(ctx context.Context, logits engine.Tensor, row int, s engine.Sampling, history []int32, u float64) (int, error) {
	t, err := b.sampleLogits(logits, "Sample")
	if err != nil {
		return 0, err
	}
	if err := b.checkRow(t, row, s, history, u); err != nil {
		return 0, fmt.Errorf("cuda: Sample: %w", err)
	}
	var token int32
	err = b.th.Do(ctx, func() error {
		if err := b.setBatch(nil, 0, len(history), float32(u)); err != nil {
			return err
		}
		if len(history) > 0 {
			if err := cu.MemcpyHtoD(b.hist, unsafe.Pointer(&history[0]), int64(4*len(history))); err != nil {
				return fmt.Errorf("cuda: copy the sampling history: %w", err)
			}
		}
		p := t.p + cu.DevicePtr(int64(row)*int64(t.cols)*4)
		if err := b.dev.launch("sample", [3]int{1, 1, 1}, 1024, 0, p, t.cols, b.hist, b.step, b.mark,
			penalty(s), float32(s.Temperature), min(s.TopK, t.cols), float32(topP(s.TopP))); err != nil {
			return err
		}
		if err := cu.MemcpyDtoH(unsafe.Pointer(&token), b.step+12, 4); err != nil {
			return fmt.Errorf("cuda: copy the sampled token: %w", err)
		}
		return b.dev.sync("sample")
	})
	if err != nil {
		return 0, err
	}
	if token < 0 || int(token) >= b.shape.Vocab {
		return 0, fmt.Errorf("cuda: Sample: %w", errNoToken)
	}
	return int(token), nil
}

// rowSampleWords is the int32 words of one RowSample record of sample_rows
// (kernels/sample.cu): row, history offset and length, top-k, then the penalty,
// temperature, top-p and draw as float32.
const rowSampleWords = 8

// rowArgsWords is the size, in int32 words, of SampleRows' upload for up to rows
// rows of histories of up to context ids: the records, then the histories.
func rowArgsWords(rows, context int) int64 { return int64(rows) * (rowSampleWords + int64(context)) }

// SampleRows picks a token for each row on the device in one launch (a block per
// row): one copy of the rows' settings and histories up, one of their ids back.
// Rows that fail the checks Sample makes, or name a row already named, fail alone
// (engine.RowErrors) and are left out of the launch.
func (b *Backend) SampleRows(ctx context.Context, logits engine.Tensor, rows []engine.RowSample) ([]int, error) {
	t, err := b.sampleLogits(logits, "SampleRows")
	if err != nil {
		return nil, err
	}
	if len(rows) > b.shape.MaxBatch {
		return nil, fmt.Errorf("cuda: SampleRows: %d rows, more than the max batch of %d", len(rows), b.shape.MaxBatch)
	}
	ids := make([]int, len(rows))
	errs := make(engine.RowErrors, len(rows))
	failed := false
	named := make([]bool, t.rows)
	var live []int // the indexes in rows of the rows launched
	nhist := 0
	for i, r := range rows {
		ids[i] = -1
		err := b.checkRow(t, r.Row, r.Sampling, r.History, r.U)
		if err == nil && named[r.Row] {
			err = fmt.Errorf("row %d named twice", r.Row)
		}
		if err != nil {
			errs[i], failed = fmt.Errorf("cuda: SampleRows: %w", err), true
			continue
		}
		named[r.Row] = true
		live = append(live, i)
		nhist += len(r.History)
	}
	if len(live) > 0 {
		tokens, err := b.sampleRows(ctx, t, rows, live, nhist)
		if err != nil {
			return nil, err
		}
		for j, i := range live {
			if tok := tokens[j]; tok >= 0 && int(tok) < b.shape.Vocab {
				ids[i] = int(tok)
			} else {
				errs[i], failed = fmt.Errorf("cuda: SampleRows: row %d: %w", rows[i].Row, errNoToken), true
			}
		}
	}
	if failed {
		return ids, errs
	}
	return ids, nil
}

// sampleRows launches sample_rows over rows[live], whose histories hold nhist ids
// in all, and returns their tokens.
func (b *Backend) sampleRows(ctx context.Context, t *tensor, rows []engine.RowSample, live []int, nhist int) ([]int32, error) {
	n := len(live)
	words := make([]int32, rowSampleWords*n+nhist)
	off := rowSampleWords * n
	for j, i := range live {
		r := rows[i]
		s := r.Sampling
		f := func(v float32) int32 { return int32(math.Float32bits(v)) }
		copy(words[rowSampleWords*j:], []int32{int32(r.Row), int32(off - rowSampleWords*n), int32(len(r.History)),
			int32(min(s.TopK, t.cols)), f(penalty(s)), f(float32(s.Temperature)), f(float32(topP(s.TopP))), f(float32(r.U))})
		off += copy(words[off:], r.History)
	}
	tokens := make([]int32, n)
	err := b.th.Do(ctx, func() error {
		if err := cu.MemcpyHtoD(b.rowArgs, unsafe.Pointer(&words[0]), int64(4*len(words))); err != nil {
			return fmt.Errorf("cuda: copy the sampled rows and their histories: %w", err)
		}
		hist := b.rowArgs + cu.DevicePtr(4*rowSampleWords*n)
		if err := b.dev.launch("sample_rows", [3]int{n, 1, 1}, 1024, 0, t.p, t.cols, b.rowArgs, hist, b.rowTokens, b.mark); err != nil {
			return err
		}
		if err := cu.MemcpyDtoH(unsafe.Pointer(&tokens[0]), b.rowTokens, int64(4*n)); err != nil {
			return fmt.Errorf("cuda: copy the sampled tokens: %w", err)
		}
		return b.dev.sync("sample rows")
	})
	return tokens, err
}

// sampleLogits checks that logits is an activation of Vocab columns of this backend.
func (b *Backend) sampleLogits(logits engine.Tensor, what string) (*tensor, error) {
	t, ok := logits.(*tensor)
	if !ok || t.kind != activation || t.cols != b.shape.Vocab {
		return nil, fmt.Errorf("cuda: %s: logits must be an activation of %d columns", what, b.shape.Vocab)
	}
	return t, nil
}

// checkRow checks one row's arguments of Sample or SampleRows.
func (b *Backend) checkRow(t *tensor, row int, s engine.Sampling, history []int32, u float64) error {
	switch {
	case row < 0 || row >= t.rows:
		return fmt.Errorf("row %d of %d", row, t.rows)
	case len(history) > b.shape.Context:
		return fmt.Errorf("history of %d ids exceeds the context of %d", len(history), b.shape.Context)
	case !(u >= 0 && u < 1):
		return fmt.Errorf("draw %v outside [0, 1)", u)
	case !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0) || s.TopK < 0 || !(s.TopP >= 0 && s.TopP <= 1) ||
		!(s.RepetitionPenalty >= 0) || math.IsInf(s.RepetitionPenalty, 0):
		return fmt.Errorf("bad settings %+v", s)
	}
	for i, id := range history {
		if id < 0 || int(id) >= b.shape.Vocab {
			return fmt.Errorf("history id %d (at %d) outside the vocabulary", id, i)
		}
	}
	return nil
}

// penalty is the kernels' repetition penalty: 1 is off.
func penalty(s engine.Sampling) float32 {
	if s.RepetitionPenalty == 0 {
		return 1
	}
	return float32(s.RepetitionPenalty)
}

func topP(p float64) float64 {
	if p == 0 || p >= 1 || math.IsNaN(p) {
		return 1
	}
	return p
}
