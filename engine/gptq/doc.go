// Package gptq reads GPTQ-quantized LLaMA checkpoints as AutoGPTQ writes them and
// TheBloke publishes them (REFERENCE.md section 1): config.json and the quantization
// settings, the memory-mapped safetensors weights, and the packed layout of each
// quantized linear layer (2, 3, 4 or 8 bits; any group size; act-order g_idx;
// symmetric or asymmetric zeros; the v1 zero offset or gptq_v2).
//
// It also goes the other way: Quantize packs float weights into exactly AutoGPTQ's
// layout (round to nearest), and WriteRandom writes a whole model folder, so tests
// and benchmarks can use shapes and quantizations no published fixture has.
package gptq
