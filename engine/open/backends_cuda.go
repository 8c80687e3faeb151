//go:build cuda

package open

// The CUDA build registers the "cuda" backend too. Such a binary needs the NVIDIA
// driver (libcuda.so.1): gorgonia.org/cu initializes it at start.
import _ "github.com/rewoo-agent/agent/engine/backend/cuda"
