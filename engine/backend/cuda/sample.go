//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// Sample picks the next token on the device and copies back only its id.
func (b *Backend) Sample(ctx context.Context, logits engine.Tensor, row int, s engine.Sampling, history []int32, u float64) (int, error) {
	t, ok := logits.(*tensor)
	switch {
	case !ok || t.kind != activation || t.cols != b.shape.Vocab:
		return 0, fmt.Errorf("cuda: Sample: logits must be an activation of %d columns", b.shape.Vocab)
	case row < 0 || row >= t.rows:
		return 0, fmt.Errorf("cuda: Sample: row %d of %d", row, t.rows)
	case len(history) > b.shape.Context:
		return 0, fmt.Errorf("cuda: Sample: history of %d ids exceeds the context of %d", len(history), b.shape.Context)
	case !(u >= 0 && u < 1):
		return 0, fmt.Errorf("cuda: Sample: draw %v outside [0, 1)", u)
	case s.Temperature < 0 || s.TopK < 0 || s.TopP < 0 || s.TopP > 1 || s.RepetitionPenalty < 0:
		return 0, fmt.Errorf("cuda: Sample: bad settings %+v", s)
	}
	for i, id := range history {
		if id < 0 || int(id) >= b.shape.Vocab {
			return 0, fmt.Errorf("cuda: Sample: history id %d (at %d) outside the vocabulary", id, i)
		}
	}
	penalty := float32(s.RepetitionPenalty)
	if penalty == 0 {
		penalty = 1
	}
	var token int32
	err := b.th.Do(ctx, func() error {
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
			penalty, float32(s.Temperature), s.TopK, float32(topP(s.TopP))); err != nil {
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
		return 0, fmt.Errorf("cuda: Sample: the logits gave no token (NaN or all -Inf)")
	}
	return int(token), nil
}

func topP(p float64) float64 {
	if p == 0 || p >= 1 || math.IsNaN(p) {
		return 1
	}
	return p
}
