package gptqtest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/internal/half"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

// RandomSpec describes a random checkpoint for tests and benchmarks.
type RandomSpec struct {
	gptq.Config
	Quant    gptq.Quantization // Bits, GroupSize, Sym, Format, DescAct (random act-order)
	Seed     uint64
	Shards   int // more than 1 writes that many files and an index
	BaseName string
}

// WriteRandom writes a complete GPTQ model folder (config.json,
// quantize_config.json, weights) of random float weights quantized with Quantize:
// what AutoGPTQ would publish for such a model, for checkpoints of shapes and
// quantizations no fixture has. Linear weights are N(0, 1/in), embeddings N(0, 1),
// norm weights near 1, so activations stay of order one through the layers.
func WriteRandom(dir string, s RandomSpec) error {
	if err := s.Config.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x9e3779b97f4a7c15))
	normal := func(n int, mean, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + std*rng.NormFloat64())
		}
		return v
	}
	var tensors []safetensors.Tensor
	dense := func(name string, rows, cols int, v []float32) {
		shape := []int{rows, cols}
		if rows == 1 {
			shape = []int{cols}
		}
		b := make([]byte, 2*len(v))
		half.Encode(b, v)
		tensors = append(tensors, safetensors.Tensor{Info: safetensors.Info{Name: name, DType: safetensors.F16, Shape: shape}, Data: b})
	}
	c := s.Config
	dense(gptq.EmbedName, c.Vocab, c.Hidden, normal(c.Vocab*c.Hidden, 0, 1))
	for layer := range c.Layers {
		dense(gptq.LayerNorm(layer, false), 1, c.Hidden, normal(c.Hidden, 1, 0.1))
		dense(gptq.LayerNorm(layer, true), 1, c.Hidden, normal(c.Hidden, 1, 0.1))
		for which := range gptq.NumLinears {
			prefix, in, out := c.Linear(layer, which)
			opt := PackOptions{Bits: s.Quant.Bits, GroupSize: s.Quant.GroupSize, Sym: s.Quant.Sym, Format: s.Quant.Format}
			if s.Quant.DescAct {
				opt.Perm = rng.Perm(in)
			}
			w, err := Quantize(prefix, normal(in*out, 0, 1/math.Sqrt(float64(in))), in, out, opt)
			if err != nil {
				return err
			}
			tensors = append(tensors, quantTensors(w)...)
		}
	}
	dense(gptq.NormName, 1, c.Hidden, normal(c.Hidden, 1, 0.1))
	dense(gptq.HeadName, c.Vocab, c.Hidden, normal(c.Vocab*c.Hidden, 0, 1/math.Sqrt(float64(c.Hidden))))
	if err := writeConfigs(dir, s); err != nil {
		return err
	}
	return writeShards(dir, s.baseName(), tensors, max(s.Shards, 1))
}

func (s RandomSpec) baseName() string {
	if s.BaseName != "" {
		return s.BaseName
	}
	return "model"
}

func quantTensors(w engine.QuantWeight) []safetensors.Tensor {
	l := gptq.Layout{In: w.In, Out: w.Out, Bits: w.Bits, GroupSize: w.GroupSize}
	t := func(suffix string, dt safetensors.DType, data []byte, shape ...int) safetensors.Tensor {
		return safetensors.Tensor{Info: safetensors.Info{Name: w.Name + suffix, DType: dt, Shape: shape}, Data: data}
	}
	return []safetensors.Tensor{
		t(".qweight", safetensors.I32, w.QWeight, l.QWeight()...),
		t(".qzeros", safetensors.I32, w.QZeros, l.QZeros()...),
		t(".scales", safetensors.F16, w.Scales, l.Scales()...),
		t(".g_idx", safetensors.I32, w.GIdx, w.In),
	}
}

func writeConfigs(dir string, s RandomSpec) error {
	c := s.Config
	cfg := map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_act": "silu",
		"hidden_size": c.Hidden, "intermediate_size": c.Intermediate, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "vocab_size": c.Vocab,
		"max_position_embeddings": c.Context, "rms_norm_eps": c.NormEps, "rope_theta": c.RopeTheta,
		"bos_token_id": c.BOS, "eos_token_id": c.EOS, "tie_word_embeddings": false, "torch_dtype": "float16",
	}
	q := map[string]any{
		"bits": s.Quant.Bits, "group_size": s.Quant.GroupSize, "damp_percent": 0.1, "desc_act": s.Quant.DescAct,
		"sym": s.Quant.Sym, "true_sequential": true, "model_name_or_path": nil, "model_file_base_name": s.baseName(),
	}
	if s.Quant.Format == "gptq_v2" {
		q["checkpoint_format"] = "gptq_v2"
	}
	for name, v := range map[string]any{"config.json": cfg, "quantize_config.json": q} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeShards(dir, base string, tensors []safetensors.Tensor, shards int) error {
	if shards == 1 {
		return safetensors.WriteFile(filepath.Join(dir, base+".safetensors"), tensors, map[string]string{"format": "pt"})
	}
	weightMap := map[string]string{}
	per := (len(tensors) + shards - 1) / shards
	for i := range shards {
		part := tensors[min(i*per, len(tensors)):min((i+1)*per, len(tensors))]
		name := fmt.Sprintf("%s-%05d-of-%05d.safetensors", base, i+1, shards)
		for _, t := range part {
			weightMap[t.Name] = name
		}
		if err := safetensors.WriteFile(filepath.Join(dir, name), part, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, base+".safetensors.index.json"), b, 0o644)
}
