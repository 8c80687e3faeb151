// Package gptqtest makes GPTQ layers and checkpoints for tests, benchmarks and
// scripts: Quantize packs float weights into exactly AutoGPTQ's layout (round to
// nearest, AutoGPTQ's min/max grid, act-order through a permutation), Dequantize is
// the plain reference form of a packed layer, and WriteRandom writes a whole model
// folder of random weights, for shapes and quantizations no published fixture has.
// Nothing outside tests and tools imports it.
package gptqtest
