package gptq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrConfig is wrapped by every error about a configuration file's contents.
var ErrConfig = errors.New("bad model configuration")

// Config is the LLaMA architecture read from config.json.
type Config struct {
	Hidden        int
	Intermediate  int
	Layers        int
	Heads         int
	KVHeads       int // fewer than Heads with grouped-query attention (LLaMA-2 70B)
	Vocab         int
	Context       int // max_position_embeddings
	NormEps       float64
	RopeTheta     float64
	BOS, EOS      int
	TieEmbeddings bool
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Hidden / c.Heads }

// Quantization is the GPTQ configuration: quantize_config.json, or the
// quantization_config object inside config.json.
type Quantization struct {
	Bits      int
	GroupSize int // -1: one group spanning every input row
	DescAct   bool
	Sym       bool
	// Format is "gptq" (v1: stored zeros are zero-1) or "gptq_v2".
	Format string
	// BaseName is model_file_base_name: the weights are <BaseName>.safetensors.
	BaseName string
}

// ZeroOffset is what dequantization adds to each stored zero.
func (q Quantization) ZeroOffset() int32 {
	if q.Format == "gptq_v2" {
		return 0
	}
	return 1
}

type rawConfig struct {
	ModelType         string           `json:"model_type"`
	HiddenAct         *string          `json:"hidden_act"`
	Hidden            int              `json:"hidden_size"`
	Intermediate      int              `json:"intermediate_size"`
	Layers            int              `json:"num_hidden_layers"`
	Heads             int              `json:"num_attention_heads"`
	KVHeads           *int             `json:"num_key_value_heads"`
	Vocab             int              `json:"vocab_size"`
	Context           int              `json:"max_position_embeddings"`
	NormEps           *float64         `json:"rms_norm_eps"`
	RopeTheta         *float64         `json:"rope_theta"`
	RopeScaling       json.RawMessage  `json:"rope_scaling"`
	BOS               *int             `json:"bos_token_id"`
	EOS               json.RawMessage  `json:"eos_token_id"`
	TieEmbeddings     bool             `json:"tie_word_embeddings"`
	AttentionBias     bool             `json:"attention_bias"`
	MLPBias           bool             `json:"mlp_bias"`
	QuantizationBlock *json.RawMessage `json:"quantization_config"`
}

type rawQuant struct {
	QuantMethod      *string `json:"quant_method"`
	Bits             *int    `json:"bits"`
	GroupSize        *int    `json:"group_size"`
	DescAct          bool    `json:"desc_act"`
	Sym              *bool   `json:"sym"`
	CheckpointFormat string  `json:"checkpoint_format"`
	BaseName         *string `json:"model_file_base_name"`
}

// ParseConfig reads config.json: the architecture and, when present, the embedded
// quantization_config (q is nil without one). It never panics, whatever the input.
func ParseConfig(data []byte) (c Config, q *Quantization, err error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return Config{}, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if r.ModelType != "" && r.ModelType != "llama" {
		return Config{}, nil, fmt.Errorf("%w: model_type %q is not llama", ErrConfig, r.ModelType)
	}
	if r.HiddenAct != nil && *r.HiddenAct != "silu" {
		return Config{}, nil, fmt.Errorf("%w: hidden_act %q is not silu", ErrConfig, *r.HiddenAct)
	}
	if s := bytes.TrimSpace(r.RopeScaling); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		return Config{}, nil, fmt.Errorf("%w: rope_scaling %s is not supported", ErrConfig, s)
	}
	if r.AttentionBias || r.MLPBias {
		return Config{}, nil, fmt.Errorf("%w: attention_bias and mlp_bias are not supported", ErrConfig)
	}
	c = Config{
		Hidden: r.Hidden, Intermediate: r.Intermediate, Layers: r.Layers, Heads: r.Heads,
		KVHeads: r.Heads, Vocab: r.Vocab, Context: r.Context,
		NormEps: 1e-6, RopeTheta: 10000, BOS: 1, EOS: 2, TieEmbeddings: r.TieEmbeddings,
	}
	if r.KVHeads != nil {
		c.KVHeads = *r.KVHeads
	}
	if r.NormEps != nil {
		c.NormEps = *r.NormEps
	}
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if r.BOS != nil {
		c.BOS = *r.BOS
	}
	if len(r.EOS) > 0 && !bytes.Equal(r.EOS, []byte("null")) {
		// An id, or a list of ids whose first is taken.
		var one int
		var many []int
		switch {
		case json.Unmarshal(r.EOS, &one) == nil:
			c.EOS = one
		case json.Unmarshal(r.EOS, &many) == nil && len(many) > 0:
			c.EOS = many[0]
		default:
			return Config{}, nil, fmt.Errorf("%w: eos_token_id %s", ErrConfig, r.EOS)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, nil, err
	}
	if r.QuantizationBlock != nil && !bytes.Equal(bytes.TrimSpace(*r.QuantizationBlock), []byte("null")) {
		qc, err := ParseQuantization(*r.QuantizationBlock)
		if err != nil {
			return Config{}, nil, fmt.Errorf("quantization_config: %w", err)
		}
		q = &qc
	}
	return c, q, nil
}

// Validate reports whether the architecture is one the engine runs: positive sizes,
// whole heads, and eps, theta and the special ids in range.
func (c Config) Validate() error {
	positive := []struct {
		name string
		v    int
	}{
		{"hidden_size", c.Hidden}, {"intermediate_size", c.Intermediate},
		{"num_hidden_layers", c.Layers}, {"num_attention_heads", c.Heads},
		{"num_key_value_heads", c.KVHeads}, {"vocab_size", c.Vocab},
		{"max_position_embeddings", c.Context},
	}
	for _, p := range positive {
		if p.v <= 0 || p.v > 1<<24 {
			return fmt.Errorf("%w: %s is %d", ErrConfig, p.name, p.v)
		}
	}
	switch {
	case c.Hidden%c.Heads != 0:
		return fmt.Errorf("%w: hidden_size %d is not a multiple of num_attention_heads %d", ErrConfig, c.Hidden, c.Heads)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("%w: head size %d is odd", ErrConfig, c.HeadDim())
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%w: num_attention_heads %d is not a multiple of num_key_value_heads %d", ErrConfig, c.Heads, c.KVHeads)
	case !(c.NormEps > 0 && c.NormEps < 1):
		return fmt.Errorf("%w: rms_norm_eps is %g", ErrConfig, c.NormEps)
	case !(c.RopeTheta > 1 && c.RopeTheta < 1e12):
		return fmt.Errorf("%w: rope_theta is %g", ErrConfig, c.RopeTheta)
	case c.BOS < 0 || c.BOS >= c.Vocab || c.EOS < 0 || c.EOS >= c.Vocab:
		return fmt.Errorf("%w: bos_token_id %d or eos_token_id %d outside the vocabulary of %d", ErrConfig, c.BOS, c.EOS, c.Vocab)
	}
	return nil
}

// ParseQuantization reads quantize_config.json (or config.json's
// quantization_config). It never panics, whatever the input.
func ParseQuantization(data []byte) (Quantization, error) {
	var r rawQuant
	if err := json.Unmarshal(data, &r); err != nil {
		return Quantization{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if r.QuantMethod != nil && *r.QuantMethod != "gptq" {
		return Quantization{}, fmt.Errorf("%w: quant_method %q is not gptq", ErrConfig, *r.QuantMethod)
	}
	if r.Bits == nil || r.GroupSize == nil {
		return Quantization{}, fmt.Errorf("%w: bits and group_size are required", ErrConfig)
	}
	q := Quantization{Bits: *r.Bits, GroupSize: *r.GroupSize, DescAct: r.DescAct, Sym: true, Format: "gptq"}
	if r.Sym != nil {
		q.Sym = *r.Sym
	}
	if r.BaseName != nil {
		q.BaseName = *r.BaseName
	}
	switch r.CheckpointFormat {
	case "", "gptq":
	case "gptq_v2":
		q.Format = "gptq_v2"
	default:
		return Quantization{}, fmt.Errorf("%w: checkpoint_format %q is not supported (gptq, gptq_v2)", ErrConfig, r.CheckpointFormat)
	}
	if err := CheckBits(q.Bits); err != nil {
		return Quantization{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if q.GroupSize != -1 && (q.GroupSize <= 0 || q.GroupSize > 1<<24) {
		return Quantization{}, fmt.Errorf("%w: group_size %d (want -1 or a positive number)", ErrConfig, q.GroupSize)
	}
	return q, nil
}

// CheckBits reports whether bits is a supported width: 2, 3, 4 or 8.
func CheckBits(bits int) error {
	switch bits {
	case 2, 3, 4, 8:
		return nil
	}
	return fmt.Errorf("%d-bit quantization is not supported (2, 3, 4, 8)", bits)
}
