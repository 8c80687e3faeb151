//go:build cuda

package main

// The CUDA build registers the "cuda" backend, selected with --device cuda. This binary
// needs the NVIDIA driver (libcuda.so.1): gorgonia.org/cu initializes it at start.
import _ "github.com/rewoo-agent/agent/engine/backend/cuda"
