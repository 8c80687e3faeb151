package gptq_test

import (
	"fmt"
	"os"

	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
)

// Open a checkpoint (here a random 4-bit, 32g, act-order one) and read one layer
// with its act-order permutation.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "gptq")
	defer os.RemoveAll(dir)
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 4, Vocab: 32,
		Context: 16, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	q := gptq.Quantization{Bits: 4, GroupSize: 32, DescAct: true, Sym: true}
	if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: q, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	ck, err := gptq.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ck.Close()
	w, err := ck.Linear(cfg.Linear(0, gptq.Q))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, perm, err := gptq.ActOrder(w)
	fmt.Println(w.Name, w.In, w.Out, w.Bits, w.Groups(), perm != nil, err)
	// Output: model.layers.0.self_attn.q_proj 64 64 4 2 true <nil>
}
