package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// deviceFake samples "on the device": it runs the fake model's Forward, then picks
// the token by the engine.DeviceSampler rule (devicePick).
type deviceFake struct {
	*fakeModel
	histories [][]int32
	us        []float64
}

func (d *deviceFake) SamplesOnDevice() bool { return true }

func (d *deviceFake) ForwardSample(ctx context.Context, ids []int, start int, s engine.Sampling, history []int32, u float64) (int, error) {
	logits, err := d.Forward(ctx, ids, start, 1)
	if err != nil {
		return 0, err
	}
	d.histories = append(d.histories, slices.Clone(history))
	d.us = append(d.us, u)
	return devicePick(logits, engine.RowSample{Sampling: s, History: history, U: u})
}

func TestDeviceSamplingMatchesHost(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	base := make([]float32, vocab)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	script := tok.script("the quick brown fox")
	req := engine.Request{MaxTokens: 12, Sampling: engine.Sampling{Temperature: 1.3, Seed: 42}}
	prompt := tok.ids("Q: ")

	host := &fakeModel{promptLen: len(prompt), script: script, ctxLen: 64, margin: 2, base: base}
	_, hostIDs, err := newGen(host).GenerateIDs(context.Background(), prompt, req, nil)
	if err != nil {
		t.Fatal(err)
	}

	dev := &deviceFake{fakeModel: &fakeModel{promptLen: len(prompt), script: script, ctxLen: 64, margin: 2, base: base}}
	_, devIDs, err := New(dev, tok).GenerateIDs(context.Background(), prompt, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hostIDs, devIDs) {
		t.Fatalf("device path chose %v, host path %v (same seed)", devIDs, hostIDs)
	}
	if slices.Equal(devIDs, script[:len(devIDs)]) {
		t.Fatalf("sampling at temperature 1.3 followed the script exactly (%v): the test draws nothing", devIDs)
	}
	if len(dev.us) != len(devIDs) {
		t.Fatalf("%d device samples for %d tokens", len(dev.us), len(devIDs))
	}
	// The history given to the device holds each distinct id of prompt and output so far.
	seen := map[int32]bool{}
	var want []int32
	for _, id := range prompt {
		if !seen[int32(id)] {
			seen[int32(id)] = true
			want = append(want, int32(id))
		}
	}
	for i, h := range dev.histories {
		if !slices.Equal(h, want) {
			t.Fatalf("sample %d: history %v, want %v", i, h, want)
		}
		if id := int32(devIDs[i]); !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
}

func TestDeviceSamplingGreedyDrawsNothing(t *testing.T) {
	script := tok.script("ok")
	prompt := tok.ids("Q")
	dev := &deviceFake{fakeModel: &fakeModel{promptLen: len(prompt), script: script, ctxLen: 16}}
	res, ids, err := New(dev, tok).GenerateIDs(context.Background(), prompt, engine.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, script) || res.Text != "ok" || res.Stop != engine.StopEOS {
		t.Fatalf("got ids %v text %q stop %s, want %v \"ok\" eos", ids, res.Text, res.Stop, script)
	}
	for i, u := range dev.us {
		if u != 0 {
			t.Fatalf("greedy sample %d was given u=%v, want 0", i, u)
		}
	}
}

// rowsFake also picks several rows' tokens "on the device" (RowSampling), by
// the engine.BatchDeviceSampler rule written here independently of
// engine/sample: the repetition penalty over the row's history, temperature,
// top-k (ties at the k-th score kept), then greedy the first highest id, or
// the first id in id order at which the cumulative probability exceeds u. It
// supports no top-p. Each ForwardSampleRows is one Forward of the rows it
// samples.
type rowsFake struct {
	*deviceFake
	rowCalls [][]engine.RowSample
	off      bool // SamplesRowsOnDevice reports false
}

func newRowsFake(m *fakeModel) *rowsFake { return &rowsFake{deviceFake: &deviceFake{fakeModel: m}} }

func (r *rowsFake) SamplesRowsOnDevice() bool { return !r.off }

func (r *rowsFake) ForwardSampleRows(ctx context.Context, ids []int, start int, rows []engine.RowSample) ([]int, error) {
	first := len(ids)
	for _, p := range rows {
		if p.Row < 0 || p.Row >= len(ids) {
			return nil, fmt.Errorf("row %d of %d ids", p.Row, len(ids))
		}
		first = min(first, p.Row)
	}
	logits, err := r.Forward(ctx, ids, start, len(ids)-first)
	if err != nil {
		return nil, err
	}
	r.rowCalls = append(r.rowCalls, slices.Clone(rows))
	n := r.VocabSize()
	out := make([]int, len(rows))
	for i, p := range rows {
		row := slices.Clone(logits[(p.Row-first)*n : (p.Row-first+1)*n])
		if out[i], err = devicePick(row, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// devicePick is rowsFake's rule for one row (modified in place).
func devicePick(row []float32, p engine.RowSample) (int, error) {
	s := p.Sampling
	if s.TopP != 0 && s.TopP != 1 {
		return 0, errors.New("rowsFake: no top-p")
	}
	if pen := float32(s.RepetitionPenalty); pen != 0 && pen != 1 {
		marked := map[int32]bool{}
		for _, id := range p.History {
			marked[id] = true
		}
		for id := range marked {
			if x := row[id]; x < 0 {
				row[id] = x * pen
			} else {
				row[id] = x / pen
			}
		}
	}
	if s.Temperature == 0 {
		best := 0
		for i, l := range row {
			if l > row[best] {
				best = i
			}
		}
		return best, nil
	}
	kth := float32(math.Inf(-1))
	if s.TopK > 0 && s.TopK < len(row) {
		sorted := slices.Clone(row)
		slices.Sort(sorted)
		kth = sorted[len(sorted)-s.TopK]
	}
	maxL := slices.Max(row)
	prob := make([]float64, len(row))
	z := 0.0
	for i, l := range row {
		if l >= kth && !math.IsInf(float64(l), -1) {
			prob[i] = math.Exp(float64(l-maxL) / s.Temperature)
			z += prob[i]
		}
	}
	acc, target := 0.0, p.U*z
	last := -1
	for i, q := range prob {
		if q == 0 {
			continue
		}
		acc, last = acc+q, i
		if target < acc {
			return i, nil
		}
	}
	return last, nil
}
