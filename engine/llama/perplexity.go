package llama

import (
	"context"
	"fmt"
	"math"

	"github.com/rewoo-agent/agent/engine"
)

// NLL scores ids with m: the negative log-likelihood -log p(ids[i] | ids[:i]) of
// every id after the first, from one forward pass over every position (fed in the
// model's batches from position 0). Every id is checked against the vocabulary
// first, the last one too, which is scored but never fed.
func NLL(ctx context.Context, m engine.Model, ids []int) ([]float64, error) {
	if len(ids) < 2 {
		return nil, fmt.Errorf("perplexity: need at least 2 tokens, have %d", len(ids))
	}
	v := m.VocabSize()
	if err := engine.CheckIDs(ids, v); err != nil {
		return nil, err
	}
	logits, err := m.Forward(ctx, ids[:len(ids)-1], 0, len(ids)-1)
	if err != nil {
		return nil, err
	}
	nll := make([]float64, len(ids)-1)
	for i := range nll {
		row := logits[i*v : (i+1)*v]
		hi := math.Inf(-1)
		for _, x := range row {
			hi = max(hi, float64(x))
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x) - hi)
		}
		nll[i] = hi + math.Log(s) - float64(row[ids[i+1]])
	}
	return nll, nil
}

// Perplexity is exp of the mean of nll.
func Perplexity(nll []float64) float64 {
	var sum float64
	for _, v := range nll {
		sum += v
	}
	return math.Exp(sum / float64(len(nll)))
}
