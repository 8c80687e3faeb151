//go:build cuda

package cuda

import (
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backendtest"
)

// TestConformance runs the backend conformance suite on GPU 0, with the fast
// kernels (tensor cores, fused decode products, float16 attention) and again with
// the generic ones; it skips where the driver shows no GPU.
func TestConformance(t *testing.T) {
	open := func(t *testing.T) engine.Backend {
		if n, err := Devices(ctx); err != nil || n == 0 {
			t.Skipf("no GPU (%d devices, %v)", n, err)
		}
		b, err := Open(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("fast", func(t *testing.T) { backendtest.Run(t, open) })
	t.Run("generic", func(t *testing.T) {
		defer func(m, g, a, d bool) { fastMatvec, fastGemm, fastAttention, fastDense = m, g, a, d }(fastMatvec, fastGemm, fastAttention, fastDense)
		fastMatvec, fastGemm, fastAttention, fastDense = false, false, false, false
		backendtest.Run(t, open)
	})
}
