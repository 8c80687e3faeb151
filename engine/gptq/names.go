package gptq

import "fmt"

// The quantized linear layers of a LLaMA decoder layer, in checkpoint order.
const (
	Q = iota
	K
	V
	O
	Gate
	Up
	Down
	NumLinears
)

var linearNames = [NumLinears]string{
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
}

// Tensor names of the unquantized weights.
const (
	EmbedName = "model.embed_tokens.weight"
	NormName  = "model.norm.weight"
	HeadName  = "lm_head.weight"
)

// LayerNorm names the input (attention) or post-attention (MLP) norm of a layer.
func LayerNorm(layer int, postAttention bool) string {
	if postAttention {
		return fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", layer)
	}
	return fmt.Sprintf("model.layers.%d.input_layernorm.weight", layer)
}

// Linear gives the tensor prefix and size of linear layer which (Q..Down) of layer.
func (c Config) Linear(layer, which int) (prefix string, in, out int) {
	prefix = fmt.Sprintf("model.layers.%d.%s", layer, linearNames[which])
	kv := c.KVHeads * c.HeadDim()
	switch which {
	case Q, O:
		return prefix, c.Hidden, c.Hidden
	case K, V:
		return prefix, c.Hidden, kv
	case Gate, Up:
		return prefix, c.Hidden, c.Intermediate
	}
	return prefix, c.Intermediate, c.Hidden
}
