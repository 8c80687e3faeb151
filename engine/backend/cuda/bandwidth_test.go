//go:build cuda

package cuda

import (
	"math"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// TestReadBandwidth runs the probe agent bench measures the decode floor with: a
// finite rate no GPU of the last decade is below (10 GB/s would be a copy that went
// through the host), and a description of the method.
func TestReadBandwidth(t *testing.T) {
	n, err := Devices(ctx)
	if err != nil || n == 0 {
		t.Skipf("no GPU: %d devices, %v", n, err)
	}
	b, err := engine.OpenBackend(ctx, "cuda", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	p, ok := b.(engine.BandwidthProber)
	if !ok {
		t.Fatalf("%T is no engine.BandwidthProber", b)
	}
	bw, how, err := p.ReadBandwidth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bw < 10e9 || math.IsInf(bw, 0) || math.IsNaN(bw) || how == "" {
		t.Errorf("ReadBandwidth = %v B/s, %q", bw, how)
	}
	t.Logf("%.0f GB/s: %s", bw/1e9, how)
}
