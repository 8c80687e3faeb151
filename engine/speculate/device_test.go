//go:build cuda

package speculate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/speculate"
)

// loadCUDA loads the shipped model on the first GPU, skipping without one.
func loadCUDA(t *testing.T) *open.Loaded {
	t.Helper()
	l, err := open.Model(context.Background(), open.Spec{Model: rewooDir(), Device: "cuda"})
	if errors.Is(err, engine.ErrNoDevice) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestDeviceRows: on the CUDA backend, ForwardSampleRows's greedy ids are the
// argmax of the same step's rows of logits, and greedy speculative decoding
// of the shipped model (its rows' tokens chosen on the device) gives plain
// decoding's plans and answers on the held-out prompts, at several draft
// lengths.
func TestDeviceRows(t *testing.T) {
	plans, knowledge := heldout(t)
	ctx := context.Background()
	l := loadCUDA(t)
	m := l.Model
	if !m.SamplesRowsOnDevice() {
		t.Fatalf("%s does not sample rows on the device", m.BackendName())
	}
	prompt := plans[0]
	if _, err := m.Forward(ctx, prompt, 0, 1); err != nil {
		t.Fatal(err)
	}
	vocab := m.VocabSize()
	for _, T := range []int{1, 2, 3, 5, 9} {
		start := len(prompt) - T
		logits, err := m.Forward(ctx, prompt[start:], start, T)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]engine.RowSample, T)
		for i := range rows {
			rows[i].Row = i
		}
		ids, err := m.ForwardSampleRows(ctx, prompt[start:], start, rows)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if want := sample.Argmax(logits[i*vocab : (i+1)*vocab]); id != want {
				t.Errorf("T=%d row %d: device id %d, argmax of the row's logits %d", T, i, id, want)
			}
		}
	}

	gens := []generation{
		{"plan", plans[0], engine.Request{MaxTokens: 160}},
		{"plan to a stop", plans[1], engine.Request{MaxTokens: 200, Stop: []string{":evidence2:"}}},
		{"quote", quotePrompt(tinyTokenizer(t)), engine.Request{MaxTokens: 40}},
	}
	for i, k := range knowledge {
		gens = append(gens, generation{fmt.Sprintf("knowledge %d", i), k, engine.Request{MaxTokens: 40}})
	}
	specs := map[string]*generate.Generator{}
	var names []string
	for _, sp := range []generate.Speculation{{MaxDraft: 2}, {MaxDraft: 4}, {MaxDraft: 8}, {MaxDraft: 8, Adaptive: true}} {
		g := loadCUDA(t).Generator
		sp.Drafter = speculate.Lookup{}
		if err := g.Speculate(sp); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("lookup k=%d adaptive=%v", sp.MaxDraft, sp.Adaptive)
		specs[name], names = g, append(names, name)
	}
	same(t, loadCUDA(t).Generator, specs, names, gens)
}
