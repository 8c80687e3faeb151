package models

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/open"
)

// heldout is what scripts/train/train.py records: held-out examples, the float and
// quantized PyTorch models' summed completion NLL over them.
type heldout struct {
	Examples []struct {
		IDs       []int `json:"ids"`
		PromptLen int   `json:"prompt_len"`
	} `json:"examples"`
	FloatNLL float64 `json:"float_nll"`
	QuantNLL float64 `json:"quant_nll"`
	Tokens   int     `json:"tokens"`
}

func modelDir() string {
	dir := Dir(RewooTiny)
	if d := os.Getenv("AGENT_REWOO_MODEL"); d != "" {
		dir = d
	}
	return dir
}

// TestQuantizedMatchesFloat loads the shipped GPTQ checkpoint through the CPU
// engine and checks its perplexity on held-out completions is within 5% of the
// float model's (PyTorch's, before quantizing) and within 1% of PyTorch's own
// figure for the same quantized weights.
func TestQuantizedMatchesFloat(t *testing.T) {
	if testing.Short() {
		t.Skip("scores about 5000 tokens on the CPU engine")
	}
	dir := modelDir()
	data, err := os.ReadFile(filepath.Join(dir, "heldout.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h heldout
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Examples) == 0 || h.Tokens == 0 {
		t.Fatal("heldout.json has no examples")
	}
	ctx := context.Background()
	m, err := open.Model(ctx, open.Spec{Model: dir, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var sum float64
	var n int
	for _, ex := range h.Examples {
		nll, err := llama.NLL(ctx, m.Model, ex.IDs)
		if err != nil {
			t.Fatal(err)
		}
		// nll[i] is the loss of ids[i+1]: the completion starts at PromptLen.
		for _, v := range nll[ex.PromptLen-1:] {
			sum += v
			n++
		}
	}
	if n != h.Tokens {
		t.Fatalf("scored %d completion tokens, the script %d", n, h.Tokens)
	}
	got := math.Exp(sum / float64(n))
	float := math.Exp(h.FloatNLL / float64(h.Tokens))
	quant := math.Exp(h.QuantNLL / float64(h.Tokens))
	t.Logf("held-out completion perplexity: engine %.4f, PyTorch quantized %.4f, float %.4f (%d tokens)", got, quant, float, n)
	if got > 1.05*float {
		t.Errorf("engine perplexity %.4f is more than 5%% above the float model's %.4f", got, float)
	}
	if math.Abs(got-quant) > 0.01*quant {
		t.Errorf("engine perplexity %.4f differs from PyTorch's quantized %.4f by more than 1%%", got, quant)
	}
}
