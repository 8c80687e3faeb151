package llama

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// uniformModel gives every token the same logit, so each NLL is log(vocab).
type uniformModel struct {
	vocab int
	fed   int // Forward calls
}

func (m *uniformModel) Forward(_ context.Context, ids []int, _, last int) ([]float32, error) {
	m.fed++
	return make([]float32, last*m.vocab), nil
}
func (m *uniformModel) VocabSize() int     { return m.vocab }
func (m *uniformModel) ContextLength() int { return 100 }

var _ engine.Model = (*uniformModel)(nil)

func TestNLL(t *testing.T) {
	m := &uniformModel{vocab: 8}
	nll, err := NLL(context.Background(), m, []int{1, 2, 3, 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(nll) != 3 {
		t.Fatalf("%d NLLs for 4 ids, want 3", len(nll))
	}
	for i, v := range nll {
		if math.Abs(v-math.Log(8)) > 1e-9 {
			t.Errorf("nll[%d] = %v, want log 8", i, v)
		}
	}
	if p := Perplexity(nll); math.Abs(p-8) > 1e-9 {
		t.Errorf("perplexity %v, want 8", p)
	}
}

// TestNLLChecksIDs: the last id is never fed, yet it is checked, like the others,
// before the model runs (agent perplexity --ids 1,5000 used to panic).
func TestNLLChecksIDs(t *testing.T) {
	for _, ids := range [][]int{{1, 5000}, {5000, 1}, {1, -1}} {
		m := &uniformModel{vocab: 1024}
		_, err := NLL(context.Background(), m, ids)
		if !errors.Is(err, engine.ErrIDRange) || m.fed != 0 {
			t.Errorf("ids %v: %v after %d forward calls, want ErrIDRange before any", ids, err, m.fed)
			continue
		}
		if !strings.Contains(err.Error(), "1024 ids") {
			t.Errorf("ids %v: %q does not name the vocabulary size", ids, err)
		}
	}
	if _, err := NLL(context.Background(), &uniformModel{vocab: 8}, []int{1}); err == nil {
		t.Error("one id accepted")
	}
}
