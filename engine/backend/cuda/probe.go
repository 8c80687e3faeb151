//go:build cuda

package cuda

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

var _ engine.TensorProber = (*Backend)(nil)

// The tensor-core probe (kernels/probe.cu): tcChains independent m16n8k16 products
// per warp and round, tcWarpsPerSM warps on every SM (blocks of tcBlock threads).
const (
	tcChains     = 4 // PROBE_CHAINS
	tcBlock      = 256
	tcWarpsPerSM = 32
	tcIters      = 1 << 18 // ~30 ms on an H100; sums stay exact in float32 below 2^22
	tcPasses     = 5
	tcTileFLOPs  = 2 * 16 * 8 * 16 // one m16n8k16
)

// The wgmma probe (kernels/hopper.cu's wg_probe): two warpgroups a block, one block
// on every SM, four m64n256k16 products a warpgroup and round.
const (
	wgBlock     = 256
	wgIters     = 1 << 16 // sums of 64·iters stay exact in float32 below 2^18
	wgShared    = (2*64+256)*64*2 + 1024
	wgTileFLOPs = 2 * 64 * 256 * 16 // one m64n256k16
)

// TensorRate implements engine.TensorProber: the rate of the instruction the prompt
// products run on, the best of five timed launches after a warm-up, every sum
// checked against the host's so that a kernel that skipped work fails instead of
// reporting a rate. Where the sm_90a module is loaded (gptq_ws, gptq_wr) that is
// wg_probe's wgmma.m64n256k16 from shared memory; elsewhere (gptq_mm) tc_probe's
// mma.sync.m16n8k16 from registers; float16 in, float32 accumulated, either way.
func (b *Backend) TensorRate(ctx context.Context) (float64, string, error) {
	if b.dev.hopper {
		best, err := b.wgProbe(ctx, wgIters, tcPasses)
		if err != nil {
			return 0, "", err
		}
		flops := float64(b.dev.sms) * (wgBlock / 128) * 4 * wgIters * wgTileFLOPs
		return flops / best.Seconds(), fmt.Sprintf("wgmma.m64n256k16 f16->f32 from shared memory, %d warpgroups on each of %d SMs, best of %d", wgBlock/128, b.dev.sms, tcPasses), nil
	}
	best, warps, err := b.tcProbe(ctx, tcIters, tcPasses)
	if err != nil {
		return 0, "", err
	}
	flops := float64(warps) * tcChains * tcIters * tcTileFLOPs
	return flops / best.Seconds(), fmt.Sprintf("mma.sync.m16n8k16 f16->f32 from registers, %d warps on each of %d SMs, best of %d", tcWarpsPerSM, b.dev.sms, tcPasses), nil
}

// tcProbe runs tc_probe with iters rounds (probe), checks its sums (checkTC) and
// returns the fastest launch and the number of warps.
func (b *Backend) tcProbe(ctx context.Context, iters, passes int) (best time.Duration, warps int, err error) {
	blocks := b.dev.sms * tcWarpsPerSM * 32 / tcBlock
	warps = blocks * tcBlock / 32
	out := make([]float32, warps*tcChains*128)
	if best, err = b.probe(ctx, "tc_probe", blocks, tcBlock, 0, out, iters, passes); err != nil {
		return 0, 0, err
	}
	return best, warps, checkTC(out, iters)
}

// wgProbe runs wg_probe with iters rounds (probe), checks its sums (checkWG) and
// returns the fastest launch.
func (b *Backend) wgProbe(ctx context.Context, iters, passes int) (time.Duration, error) {
	out := make([]float32, b.dev.sms*wgBlock*128)
	best, err := b.probe(ctx, "wg_probe", b.dev.sms, wgBlock, wgShared, out, iters, passes)
	if err != nil {
		return 0, err
	}
	return best, checkWG(out, iters)
}

// probe launches a probe kernel (out, iters) on blocks blocks once untimed and
// passes times timed, copies its output into out and returns the fastest launch.
func (b *Backend) probe(ctx context.Context, kernel string, blocks, block, shared int, out []float32, iters, passes int) (best time.Duration, err error) {
	err = b.th.Do(ctx, func() (err error) {
		d := b.dev
		p, err := d.alloc("tensor-core probe output", int64(len(out))*4)
		if err != nil {
			return err
		}
		defer d.free(p)
		for i := range passes + 1 {
			if err := ctx.Err(); err != nil {
				return err
			}
			start := time.Now()
			if err := d.launch(kernel, [3]int{blocks, 1, 1}, block, shared, p, iters); err != nil {
				return err
			}
			if err := d.sync("tensor-core probe"); err != nil {
				return err
			}
			if t := time.Since(start); i > 0 && (best == 0 || t < best) {
				best = t
			}
		}
		if err := cu.MemcpyDtoH(unsafe.Pointer(&out[0]), p, int64(len(out))*4); err != nil {
			return fmt.Errorf("cuda: copy the tensor-core probe's sums to the host: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if passes > 0 && best <= 0 {
		return 0, errors.New("cuda: tensor-core probe: no time elapsed")
	}
	return best, nil
}

// checkWG checks wg_probe's output: every accumulator is 64·iters (tiles of ones,
// four products of 16 terms a round).
func checkWG(out []float32, iters int) error {
	want := float32(64 * iters)
	for i, got := range out {
		if got != want {
			return fmt.Errorf("cuda: wgmma probe: thread %d, accumulator %d is %g, want %g", i/128, i%128, got, want)
		}
	}
	return nil
}

// checkTC compares tc_probe's output with the products computed here: tile c of
// warp w is iters·A_w·B_c, A_w and B_c as kernels/probe.cu defines them.
func checkTC(out []float32, iters int) error {
	for i := range len(out) / 128 {
		w, c := i/tcChains, i%tcChains
		for r := range 16 {
			for n := range 8 {
				var s int
				for k := range 16 {
					s += probeA(r, k, w) * probeB(k, n, c)
				}
				if want, got := float32(s*iters), out[i*128+r*8+n]; got != want {
					return fmt.Errorf("cuda: tensor-core probe: warp %d, product %d, row %d, column %d is %g, want %g", w, c, r, n, got, want)
				}
			}
		}
	}
	return nil
}

func probeA(r, k, w int) int {
	switch {
	case (r+k+w)%4 != 0:
		return 0
	case (r+w)%2 == 1:
		return 1
	}
	return -1
}

func probeB(k, n, c int) int { return (k+2*n+c)%3 - 1 }
