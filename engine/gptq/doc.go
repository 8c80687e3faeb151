// Package gptq reads GPTQ-quantized LLaMA checkpoints as AutoGPTQ writes them and
// TheBloke publishes them (REFERENCE.md section 1): config.json and the quantization
// settings, the memory-mapped safetensors weights, and the packed layout of each
// quantized linear layer (2, 3, 4 or 8 bits; any group size; act-order g_idx;
// symmetric or asymmetric zeros; the v1 zero offset or gptq_v2).
//
// For the backends it reads a layer's act-order (ActOrder, MakeSequential) and
// checks its tensors' sizes (CheckWeight). The other way, packing float weights and
// writing random checkpoints for tests, is package gptqtest.
package gptq
