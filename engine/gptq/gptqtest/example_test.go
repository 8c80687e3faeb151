package gptqtest_test

import (
	"fmt"
	"os"

	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
)

// Write a random 3-bit, 32g, act-order checkpoint and read one layer back.
func ExampleWriteRandom() {
	dir, _ := os.MkdirTemp("", "gptq")
	defer os.RemoveAll(dir)
	cfg := gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 4, Vocab: 32,
		Context: 16, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	q := gptq.Quantization{Bits: 3, GroupSize: 32, DescAct: true, Sym: true}
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
	w, err := ck.Linear(cfg.Linear(0, gptq.Down))
	fmt.Println(w.Name, w.In, w.Out, w.Bits, w.Groups(), len(w.QWeight), err)
	// Output: model.layers.0.mlp.down_proj 128 64 3 4 3072 <nil>
}
