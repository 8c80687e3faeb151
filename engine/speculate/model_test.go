package speculate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// countModel is a fake engine.Model whose greedy next id is the last id fed
// plus one (mod vocab); it checks the cache contract and records each Forward.
type countModel struct {
	vocab, ctxLen int
	fed           []int
	calls         [][2]int // start and number of ids
	fail          error
}

func (m *countModel) VocabSize() int     { return m.vocab }
func (m *countModel) ContextLength() int { return m.ctxLen }

func (m *countModel) Forward(_ context.Context, ids []int, start, last int) ([]float32, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	if start > len(m.fed) || last != 1 || len(ids) == 0 || start+len(ids) > m.ctxLen {
		return nil, fmt.Errorf("bad Forward(%v, %d, %d) with %d fed", ids, start, last, len(m.fed))
	}
	m.calls = append(m.calls, [2]int{start, len(ids)})
	m.fed = append(m.fed[:start], ids...)
	logits := make([]float32, m.vocab)
	logits[(ids[len(ids)-1]+1)%m.vocab] = 1
	return logits, nil
}

func TestModel(t *testing.T) {
	m := &countModel{vocab: 10, ctxLen: 12}
	d := NewModel(m)
	ctx := context.Background()
	got, err := d.Draft(ctx, []int{1, 5, 6}, 3)
	if err != nil || !slices.Equal(got, []int{7, 8, 9}) {
		t.Fatalf("Draft = %v, %v; want [7 8 9]", got, err)
	}
	// The ids, then two of the drafts one at a time; the last draft is not fed.
	if want := [][2]int{{0, 3}, {3, 1}, {4, 1}}; !slices.Equal(m.calls, want) {
		t.Errorf("forward calls %v, want %v", m.calls, want)
	}
	// The target kept 7 and chose 2: the draft model rewinds to after 7.
	m.calls = nil
	if got, err = d.Draft(ctx, []int{1, 5, 6, 7, 2}, 2); err != nil || !slices.Equal(got, []int{3, 4}) {
		t.Fatalf("Draft = %v, %v; want [3 4]", got, err)
	}
	if want := [][2]int{{4, 1}, {5, 1}}; !slices.Equal(m.calls, want) {
		t.Errorf("forward calls %v, want the new id at 4, then a draft", m.calls)
	}
	// The context's end cuts the draft short.
	if got, _ = d.Draft(ctx, make([]int, 10), 5); len(got) != 2 {
		t.Errorf("%d drafts with 2 positions left", len(got))
	}
	if got, _ = d.Draft(ctx, make([]int, 12), 5); got != nil {
		t.Errorf("drafts %v with no position left", got)
	}
	m.fail = errors.New("device lost")
	if _, err := d.Draft(ctx, []int{3, 3, 3}, 2); !errors.Is(err, m.fail) || !strings.Contains(err.Error(), "draft model") {
		t.Errorf("error %v, want the model's", err)
	}
}
