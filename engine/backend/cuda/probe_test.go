//go:build cuda

package cuda

import (
	"math"
	"testing"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// tcPeakPerSMClock bounds the dense float16 tensor-core work of one SM in one clock:
// 8192 floating-point operations, twice Hopper's 4096 (989 TFLOP/s on an H100 SXM's
// 132 SMs at 1.83 GHz, with wgmma; mma.sync reaches less) and Blackwell's rate. A
// probe above SMs × clock × this timed something other than its own work.
const tcPeakPerSMClock = 8192

// TestTensorRate runs the probes agent bench computes the prefill floor with
// (tc_probe, and wg_probe where the sm_90a module is loaded): every sum matches the
// host's (TensorRate checks them, and the checks fail on sums of another round
// count), and the rate is at least 1 TFLOP/s (any tensor core of sm_80 or later) and
// below the physical bound above at the device's top clock.
func TestTensorRate(t *testing.T) {
	n, err := Devices(ctx)
	if err != nil || n == 0 {
		t.Skipf("no GPU: %d devices, %v", n, err)
	}
	eb, err := engine.OpenBackend(ctx, "cuda", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := eb.Close(); err != nil {
			t.Error(err)
		}
	}()
	b, ok := eb.(*Backend)
	if !ok {
		t.Fatalf("engine.OpenBackend gave a %T", eb)
	}
	// A few rounds first: the sums, unrounded at any count, and a check that can fail.
	for _, iters := range []int{1, 7} {
		if _, _, err := b.tcProbe(ctx, iters, 0); err != nil {
			t.Fatalf("%d rounds: %v", iters, err)
		}
	}
	blocks := b.dev.sms * tcWarpsPerSM * 32 / tcBlock
	out := make([]float32, blocks*tcBlock/32*tcChains*128)
	for i := range out {
		out[i] = float32(i % 5)
	}
	if err := checkTC(out, 7); err == nil {
		t.Error("checkTC accepted sums that are not the probe's")
	}
	if b.dev.hopper { // TensorRate times wg_probe instead
		for _, iters := range []int{1, 7} {
			if _, err := b.wgProbe(ctx, iters, 0); err != nil {
				t.Fatalf("wgmma probe, %d rounds: %v", iters, err)
			}
		}
		wg := make([]float32, b.dev.sms*wgBlock*128)
		for i := range wg {
			wg[i] = 64 * 7
		}
		wg[len(wg)/2] = 64 * 6
		if err := checkWG(wg, 7); err == nil {
			t.Error("checkWG accepted sums that are not the probe's")
		}
	}
	rate, how, err := b.TensorRate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var clockKHz int
	err = b.th.Do(ctx, func() error {
		dev, err := cu.GetDevice(0)
		if err != nil {
			return err
		}
		clockKHz, err = dev.Attribute(cu.ClockRate)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bound := float64(b.dev.sms) * float64(clockKHz) * 1e3 * tcPeakPerSMClock
	if rate < 1e12 || rate > bound || math.IsNaN(rate) || how == "" {
		t.Errorf("TensorRate = %.1f TFLOP/s, %q; want 1 to %.0f TFLOP/s (%d SMs at %d MHz)", rate/1e12, how, bound/1e12, b.dev.sms, clockKHz/1000)
	}
	t.Logf("%.1f TFLOP/s (bound %.0f at %d SMs, %d MHz): %s", rate/1e12, bound/1e12, b.dev.sms, clockKHz/1000, how)
}
