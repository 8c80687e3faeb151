package generate

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// deviceFake samples "on the device": it runs the fake model's Forward, then picks
// the token by the engine.DeviceSampler rule (softmax of logits/temperature, the
// first id in id order at which the cumulative probability exceeds u), written
// here independently of engine/sample. It supports temperature only.
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
	if s.Temperature == 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return best, nil
	}
	maxL := slices.Max(logits)
	p := make([]float64, len(logits))
	z := 0.0
	for i, l := range logits {
		p[i] = math.Exp(float64(l-maxL) / s.Temperature)
		z += p[i]
	}
	acc, r := 0.0, u*z
	for i := range p {
		acc += p[i]
		if r < acc {
			return i, nil
		}
	}
	return len(p) - 1, nil
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
