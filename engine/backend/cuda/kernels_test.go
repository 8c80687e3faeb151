//go:build cuda

package cuda

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/internal/half"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/kernels"
)

// Kernel checks: every operation on fresh random inputs (seeded from the clock, the
// seed logged) against a float64 reference, outputs poisoned with NaN before each
// launch so an unwritten element fails.

var ctx = context.Background()

func newRNG(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 1))
}

func open(t testing.TB, s engine.Shape) *Backend {
	t.Helper()
	b, err := openDevice(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := b.Reserve(ctx, s); err != nil {
		t.Fatal(err)
	}
	return b
}

func randn(r *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * std)
	}
	return v
}

// loadRandomQuant quantizes in×out random weights (deviation 1/√in) with opt, loads them
// on b and returns them with their dequantized float32 values, the reference.
func loadRandomQuant(t *testing.T, r *rand.Rand, b *Backend, name string, in, out int, opt gptqtest.PackOptions) (engine.Tensor, []float32) {
	t.Helper()
	qw, err := gptqtest.Quantize(name, randn(r, in*out, 1/math.Sqrt(float64(in))), in, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.LoadQuant(ctx, qw)
	if err != nil {
		t.Fatal(err)
	}
	return w, gptqtest.Dequantize(qw)
}

// act makes an activation holding v (rows×cols).
func act(t *testing.T, b *Backend, rows, cols int, v []float32) engine.Tensor {
	t.Helper()
	x, err := b.NewActivation(ctx, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		write(t, b, x, v)
	} else {
		poison(t, b, x)
	}
	return x
}

func write(t *testing.T, b *Backend, x engine.Tensor, v []float32) {
	t.Helper()
	err := b.th.Do(ctx, func() error {
		return cu.MemcpyHtoD(x.(*tensor).p, unsafe.Pointer(&v[0]), int64(4*len(v)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// poison fills an activation with NaN.
func poison(t *testing.T, b *Backend, x engine.Tensor) {
	t.Helper()
	xt := x.(*tensor)
	err := b.th.Do(ctx, func() error {
		return cu.MemsetD32(xt.p, 0xffffffff, int64(xt.rows*xt.cols))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, b *Backend, x engine.Tensor, rows int) []float32 {
	t.Helper()
	_, cols := x.Dims()
	out := make([]float32, rows*cols)
	if err := b.Read(ctx, out, x, 0, rows); err != nil {
		t.Fatal(err)
	}
	return out
}

func denseW(t *testing.T, b *Backend, rows, cols int, v []float32) (engine.Tensor, []float32) {
	t.Helper()
	raw := make([]byte, 2*len(v))
	half.Encode(raw, v)
	rounded := make([]float32, len(v))
	half.Decode(rounded, raw)
	w, err := b.LoadDense(ctx, engine.DenseWeight{Name: "test", Rows: rows, Cols: cols, F16: raw})
	if err != nil {
		t.Fatal(err)
	}
	return w, rounded
}

func ids(r *rand.Rand, n, vocab int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(r.IntN(vocab))
	}
	return v
}

// relErr is ||got-want|| / ||want||; a NaN anywhere (an unwritten output) gives +Inf.
func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, g := range got {
		if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
			return math.Inf(1)
		}
		d := float64(g) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

func expectClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e := relErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
	}
}

func run(t *testing.T, b *Backend, batch []int32, start int, step func(engine.Ops)) {
	t.Helper()
	if err := b.Run(ctx, batch, start, step); err != nil {
		t.Fatal(err)
	}
}

var small = engine.Shape{Hidden: 256, Intermediate: 768, Layers: 1, Heads: 4, KVHeads: 4, HeadDim: 64, Vocab: 1000, Context: 2048, MaxBatch: 300}

// TestMatMulQuant checks every bit width, group and act-order at batch 1 (decode), at
// engine/batch's decode batches (2, 3, 5, 8, 16, 33, 64 rows: gptq_tcN_m16/32/64 for 3
// and 4 bits, or with tc=false gptq_mvN_r4 and _r16) and at 67 and 512 rows (prompt;
// 67 and 352 columns leave partial tiles); fast=true runs the 3- and 4-bit kernels
// (gptq_mv, gather_x and gptq_mm), fast=false the generic ones.
func TestMatMulQuant(t *testing.T) {
	r := newRNG(t)
	s := small
	s.MaxBatch, s.Intermediate = 512, 1024 // the float16 input of 512 rows of 1024
	b := open(t, s)
	const in, out = 1024, 352
	for _, bits := range []int{2, 3, 4, 8} {
		for _, group := range []int{-1, 32, 64, 128} {
			for _, actOrder := range []bool{false, true} {
				opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Sym: r.IntN(2) == 0, Format: "gptq"}
				if r.IntN(3) == 0 {
					opt.Format = "gptq_v2"
				}
				if actOrder {
					opt.Perm = r.Perm(in)
				}
				name := fmt.Sprintf("%dbit/g%d/actorder=%v/%s/sym=%v", bits, group, actOrder, opt.Format, opt.Sym)
				for _, k := range batchKernels(bits) {
					t.Run(fmt.Sprintf("%s/fast=%v/tc=%v", name, k.fast, k.tc), func(t *testing.T) {
						defer func(f, g, u bool, m, r4 int) {
							fastMatvec, fastGemm, tcUnderfill, tcRowsMin, mvR4Rows = f, g, u, m, r4
						}(fastMatvec, fastGemm, tcUnderfill, tcRowsMin, mvR4Rows)
						fastMatvec, fastGemm = k.fast, k.fast
						if k.tc {
							mvR4Rows, tcUnderfill = 0, true
						} else {
							tcRowsMin = mvRowsMax + 1
						}
						w, wf := loadRandomQuant(t, r, b, name, in, out, opt)
						for _, rows := range []int{1, 2, 3, 5, 8, 16, 33, 64, 67, 512} {
							checkMatMul(t, r, b, w, wf, rows, in, out)
						}
					})
				}
			}
		}
	}
}

// promptKernels runs f once per kernel the device runs bits-bit prompt products on
// (gptq_mm; where the sm_90a modules are loaded gptq_ws, and gptq_wr for 4 bits), as
// subtests named after the kernel.
func promptKernels(t *testing.T, b *Backend, bits int, f func(t *testing.T)) {
	for _, k := range promptBuilds(b, bits) {
		t.Run(buildName(k), func(t *testing.T) {
			defer setPromptKernel(k)()
			f(t)
		})
	}
}

// promptBuilds are the prompt kernels of promptKernels with each of gptq_wr's tile
// heights (wrBuilds).
func promptBuilds(b *Backend, bits int) []mmKernel {
	var ks []mmKernel
	for _, k := range (ops{b}).promptKernels(bits) {
		if k.kind == wrBuild.kind {
			ks = append(ks, wrBuilds...)
		} else {
			ks = append(ks, k)
		}
	}
	return ks
}

// buildName is k's kind, with its tile height where gptq_wr's is not wrBuild's.
func buildName(k mmKernel) string {
	if k.kind == wrBuild.kind && k.rows != wrBuild.rows {
		return fmt.Sprintf("%s_r%d", k.kind, k.rows)
	}
	return k.kind
}

// setPromptKernel makes k the prompt kernel (gptq_wr: of k's tile height, none
// for automatic) and returns what restores the previous.
func setPromptKernel(k mmKernel) func() {
	f, r := promptForce, wrRowsForce
	promptForce = k.kind
	if k.kind == wrBuild.kind {
		wrRowsForce = k.rows
	}
	return func() { promptForce, wrRowsForce = f, r }
}

// TestHopperModules checks that a device of compute capability 9.0 loaded the sm_90a
// modules (gptq_ws), which the driver could refuse without failing the backend.
func TestHopperModules(t *testing.T) {
	b := open(t, small)
	if !kernels.HasSM90a(b.dev.major, b.dev.minor) {
		t.Skipf("compute capability %d.%d has no sm_90a modules", b.dev.major, b.dev.minor)
	}
	if !b.dev.hopper {
		t.Fatalf("sm_90a modules not loaded: %v", b.dev.hopperErr)
	}
	err := b.th.Do(ctx, func() error {
		for _, name := range []string{"gptq_ws3", "gptq_ws4", "gptq_wr3", "gptq_wr4", "gptq_wr4_r192", "gptq_wr3_r128", "gather_xr4", "dequant_t3", "dequant_t4", "gather_xl4", "gather_xlp3", "gemm_ws"} {
			if _, err := b.dev.fn(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMatMulPromptUnsplit checks 3- and 4-bit prompt products large enough that K is
// not split (256 tiles of 128×256); TestMatMulQuant's and TestMatMulPromptKernels'
// are split in two. On gptq_wr4 such a product is streamed (256 tiles on 132
// places), so it runs both ways.
func TestMatMulPromptUnsplit(t *testing.T) {
	r := newRNG(t)
	s := small
	s.MaxBatch = 512
	b := open(t, s)
	const rows, in, out = 512, 256, 16384
	defer func(s int) { streamAt = s }(streamAt)
	streamAt = -1
	if p, ok := (ops{b}).mmPlan(rows, in, out, 4); p.grid[2] != 1 || !ok {
		t.Fatalf("%d splits on %d multiprocessors (ok %v), want 1", p.grid[2], b.dev.sms, ok)
	}
	for _, bits := range []int{3, 4} {
		t.Run(fmt.Sprintf("%dbit", bits), func(t *testing.T) {
			opt := gptqtest.PackOptions{Bits: bits, GroupSize: 32, Format: "gptq", Perm: r.Perm(in)}
			w, wf := loadRandomQuant(t, r, b, "unsplit", in, out, opt)
			promptKernels(t, b, bits, func(t *testing.T) {
				for _, at := range []int{-1, 0} {
					streamAt = at
					p, ok := (ops{b}).mmPlan(rows, in, out, bits)
					if p.grid[2] != 1 || !ok || (at < 0 || p.k.kind == "gptq_mm") != (p.streamed == 0) {
						t.Fatalf("streamAt %d: plan %+v (ok %v), want K unsplit, streamed on gptq_wr unless turned off", at, p, ok)
					}
					checkMatMul(t, r, b, w, wf, rows, in, out)
				}
			})
		})
	}
}

// TestMatMulPromptStream checks streamed prompt products (Stream-K on the Hopper
// kernels: whole tiles by waves, then the rest cut between blocks, the sums of a cut
// tile published by one and added by the next) on few blocks, so that small products
// are cut in many places: no group and 32g act-order, gptq_wr's three tile heights,
// partial row and column tiles, K of an odd count of chunks (a piece may end on a half
// step). Each product is checked against the
// float64 reference, run twice for the same bits (a cut tile's sums are added in one
// order), and leaves every flag down.
func TestMatMulPromptStream(t *testing.T) {
	r := newRNG(t)
	s := small
	s.MaxBatch, s.Intermediate = 512, 1184
	b := open(t, s)
	if !b.dev.hopper {
		t.Skip("no sm_90a modules on this device: gptq_mm tiles a block")
	}
	const rows, in, out = 300, 1184, 1024 // 37 chunks; 2×8 tiles of gptq_wr (3×8 of 128 rows), 3×4 of gptq_ws
	defer func(s int) { streamAt = s }(streamAt)
	for _, c := range []struct {
		k           mmKernel
		bits, group int
	}{{wrBuild, 4, -1}, {wrBuild, 4, 32}, {wrBuild, 3, -1}, {wrBuild, 3, 32}, {wrBuilds[1], 4, -1}, {wrBuilds[1], 3, 32},
		{wrBuilds[2], 4, 32}, {wrBuilds[2], 3, -1}, {wsBuild, 4, -1}, {wsBuild, 3, -1}, {wsBuild, 3, 32}} {
		bits, group := c.bits, c.group
		opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Format: "gptq"}
		if group > 0 {
			opt.Perm = r.Perm(in)
		}
		w, wf := loadRandomQuant(t, r, b, "stream", in, out, opt)
		for _, at := range []int{5, 7, 11} { // waves by tiles, then streamed (5, 7); all streamed (11)
			t.Run(fmt.Sprintf("%s/%dbit/g%d/blocks=%d", buildName(c.k), bits, group, at), func(t *testing.T) {
				defer setPromptKernel(c.k)()
				streamAt = at
				p, ok := (ops{b}).mmPlan(rows, in, out, bits)
				if !ok || p.k != c.k || p.streamed == 0 || p.grid != [3]int{at, 1, 1} {
					t.Fatalf("plan %+v (ok %v), want %s streamed on %d blocks", p, ok, buildName(c.k), at)
				}
				xv := randn(r, rows*in, 1)
				x := act(t, b, rows, in, xv)
				var got [2][]float32
				for i := range got {
					y := act(t, b, rows, out, nil)
					run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.MatMul(y, x, w) })
					got[i] = read(t, b, y, rows)
				}
				want, tol := product(xv, wf, rows, in, out, true)
				expectClose(t, "streamed", got[0], want, tol)
				if !slices.Equal(got[0], got[1]) {
					t.Error("two runs differ")
				}
				flags := make([]uint32, b.dev.sms)
				if err := b.th.Do(ctx, func() error {
					return cu.MemcpyDtoH(unsafe.Pointer(&flags[0]), b.mmFlags, int64(len(flags))*4)
				}); err != nil {
					t.Fatal(err)
				}
				if i := slices.IndexFunc(flags, func(f uint32) bool { return f != 0 }); i >= 0 {
					t.Errorf("block %d's flag left up (%d)", i, flags[i])
				}
			})
		}
	}
}

// TestMatMulLongSteps checks long prompt steps (longBuild: gather_xlN, dequant_tN,
// then gemm_ws) on 3 and 4 bits without groups and with 32 and 128 rows a group in
// act-order: K split in two, unsplit, and streamed on 5, 7 and 11 blocks (a tile's K
// cut between blocks), with partial row and column tiles and K of an odd count of
// chunks (the tiles' last step half zeros), the act-order gathers staged and from
// global memory. Each product is checked against the float64 reference and, where
// the blocks take the same ranges of K, against gptq_ws, which dequantizes the same
// values into the same tiles and issues the same products, so the two agree bit for
// bit; and a step below longRowsMin does not take it.
func TestMatMulLongSteps(t *testing.T) {
	defer func(m, s int) { longRowsMin, streamAt = m, s }(longRowsMin, streamAt)
	longRowsMin = 256
	r := newRNG(t)
	s := small
	s.MaxBatch, s.Hidden, s.Intermediate = 512, 1024, 1184
	b := open(t, s)
	if !b.dev.hopper {
		t.Skip("no sm_90a modules on this device")
	}
	if b.longW == 0 {
		t.Fatal("no float16 weight buffer with MaxBatch at longRowsMin")
	}
	if p, ok := (ops{b}).mmPlan(longRowsMin-1, 1024, 352, 4); !ok || p.k == longBuild {
		t.Errorf("%d rows: plan %+v (ok %v), want a shorter step's kernel", longRowsMin-1, p, ok)
	}
	for _, c := range []struct {
		bits, group, rows, in, out int
		streamAt                   int
	}{{4, -1, 300, 1184, 1024, 5}, {4, 32, 300, 1184, 1024, 7}, {4, 128, 300, 1024, 352, 0},
		{3, -1, 300, 1184, 1024, 11}, {3, 32, 257, 1184, 1024, 5}, {3, 128, 300, 1024, 352, 0},
		{4, 32, 512, 1024, 1024, 0}, {3, -1, 512, 1184, 1024, -1}} {
		name := fmt.Sprintf("%dbit/g%d/%dx%dx%d/stream=%d", c.bits, c.group, c.rows, c.in, c.out, c.streamAt)
		t.Run(name, func(t *testing.T) {
			opt := gptqtest.PackOptions{Bits: c.bits, GroupSize: c.group, Sym: r.IntN(2) == 0, Format: "gptq"}
			if c.group > 0 {
				opt.Perm = r.Perm(c.in)
			}
			w, wf := loadRandomQuant(t, r, b, name, c.in, c.out, opt)
			streamAt = c.streamAt
			xv := randn(r, c.rows*c.in, 1)
			x := act(t, b, c.rows, c.in, xv)
			var got [2][]float32
			var per [2]int
			for i, k := range []mmKernel{longBuild, wsBuild} {
				restore := setPromptKernel(k)
				p, ok := (ops{b}).mmPlan(c.rows, c.in, c.out, c.bits)
				if !ok || p.k != k || (c.streamAt > 0) != (p.streamed == 1) || p.streamed == 0 && k == longBuild && p.per%2 != 0 {
					t.Fatalf("plan %+v (ok %v), want %s, streamed %v, ranges of whole steps", p, ok, k.kind, c.streamAt > 0)
				}
				per[i] = p.per
				y := act(t, b, c.rows, c.out, nil)
				poison(t, b, y)
				run(t, b, ids(r, c.rows, s.Vocab), 0, func(o engine.Ops) { o.MatMul(y, x, w) })
				got[i] = read(t, b, y, c.rows)
				restore()
			}
			want, tol := product(xv, wf, c.rows, c.in, c.out, true)
			expectClose(t, "long step", got[0], want, tol)
			if i := slices.IndexFunc(got[0], func(v float32) bool { return v != v }); i >= 0 {
				t.Fatalf("NaN at %d", i)
			}
			if c.group > 0 { // the gather through the permutation from global memory
				defer func(s bool) { stagedGather = s }(stagedGather)
				stagedGather = false
				restore := setPromptKernel(longBuild)
				y := act(t, b, c.rows, c.out, nil)
				run(t, b, ids(r, c.rows, s.Vocab), 0, func(o engine.Ops) { o.MatMul(y, x, w) })
				restore()
				if g := read(t, b, y, c.rows); !slices.Equal(g, got[0]) {
					t.Error("the gather from global memory gives other sums than the staged one")
				}
				stagedGather = true
			}
			if per[0] != per[1] {
				t.Logf("K ranges of %d and %d chunks: not compared bit for bit", per[0], per[1])
			} else if !slices.Equal(got[0], got[1]) {
				n := 0
				for i := range got[0] {
					if got[0][i] != got[1][i] {
						n++
					}
				}
				t.Errorf("%d of %d sums differ from gptq_ws's", n, len(got[0]))
			}
		})
	}
	// Without promptForce, the row count picks it.
	defer setPromptKernel(mmKernel{})()
	if p, ok := (ops{b}).mmPlan(longRowsMin, 1024, 352, 3); !ok || p.k != longBuild {
		t.Errorf("%d rows: plan %+v (ok %v), want longBuild", longRowsMin, p, ok)
	}
}

// TestMatMulPromptKernels checks gptq_mm on every branch of 3 and 4 bits (no group,
// 32, 64 and 128 rows a group, act-order, v1 and v2 zeros, symmetric or not) with K
// split in two: 300 rows of 1024 inputs into 352 columns (partial row and column
// tiles), and 67 rows of 1056 inputs (33 chunks: each split ends on a half step).
func TestMatMulPromptKernels(t *testing.T) {
	r := newRNG(t)
	s := small
	s.MaxBatch, s.Intermediate = 512, 1056
	b := open(t, s)
	const out = 352
	for _, bits := range []int{3, 4} {
		for _, c := range []struct {
			in, group, rows int
			actOrder        bool
			format          string
		}{{1024, -1, 300, false, "gptq"}, {1024, 32, 300, true, "gptq_v2"}, {1024, 64, 300, false, "gptq"},
			{1024, 128, 300, true, "gptq"}, {1056, 32, 67, false, "gptq_v2"}, {1056, -1, 67, true, "gptq"}} {
			opt := gptqtest.PackOptions{Bits: bits, GroupSize: c.group, Sym: r.IntN(2) == 0, Format: c.format}
			if c.actOrder {
				opt.Perm = r.Perm(c.in)
			}
			name := fmt.Sprintf("%dbit/%dx%d/g%d/actorder=%v/%s/sym=%v/rows=%d", bits, c.in, out, c.group, c.actOrder, c.format, opt.Sym, c.rows)
			t.Run(name, func(t *testing.T) {
				w, wf := loadRandomQuant(t, r, b, name, c.in, out, opt)
				promptKernels(t, b, bits, func(t *testing.T) {
					if p, ok := (ops{b}).mmPlan(c.rows, c.in, out, bits); !ok || p.grid[2] != 2 {
						t.Fatalf("plan %+v, ok %v: want the prompt kernel split in two", p, ok)
					}
					checkMatMul(t, r, b, w, wf, c.rows, c.in, out)
					if c.actOrder { // the gather through the permutation from global memory too
						defer func(s bool) { stagedGather = s }(stagedGather)
						stagedGather = false
						checkMatMul(t, r, b, w, wf, c.rows, c.in, out)
					}
				})
			})
		}
	}
}

// TestPromptGatherOnce checks that prompt products of one input through one
// permutation (two layers quantized with the same act-order, as q and k are) gather
// it once, on every prompt kernel, and gather it again when an operation between
// them writes it, with the products right either way.
func TestPromptGatherOnce(t *testing.T) {
	r := newRNG(t)
	s := small
	s.MaxBatch = 512
	b := open(t, s)
	const rows, in, out = 300, 1024, 352
	for _, bits := range []int{3, 4} {
		t.Run(fmt.Sprintf("%dbit", bits), func(t *testing.T) {
			opt := gptqtest.PackOptions{Bits: bits, GroupSize: 128, Format: "gptq", Perm: r.Perm(in)}
			var ws [2]engine.Tensor
			var wf [2][]float32
			for i := range ws {
				ws[i], wf[i] = loadRandomQuant(t, r, b, fmt.Sprintf("w%d", i), in, out, opt)
			}
			if p0, p1 := ws[0].(*tensor).q.perm, ws[1].(*tensor).q.perm; p0 == 0 || p0 != p1 {
				t.Fatalf("permutations at %#x and %#x: want one, shared", p0, p1)
			}
			promptKernels(t, b, bits, func(t *testing.T) {
				for _, between := range []bool{false, true} {
					xv := randn(r, rows*in, 1)
					x, y0, y1 := act(t, b, rows, in, xv), act(t, b, rows, out, nil), act(t, b, rows, out, nil)
					run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) {
						o.MatMul(y0, x, ws[0])
						if between {
							o.Add(x, x, x)
						}
						o.MatMul(y1, x, ws[1])
					})
					gathers := 0
					if err := b.th.Do(ctx, func() error {
						for _, op := range b.prog.ops {
							if strings.HasPrefix(op.name, "gather_") {
								gathers++
							}
						}
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if want := map[bool]int{false: 1, true: 2}[between]; gathers != want {
						t.Errorf("between=%v: %d gathers, want %d", between, gathers, want)
					}
					want0, tol := product(xv, wf[0], rows, in, out, true)
					expectClose(t, "first product", read(t, b, y0, rows), want0, tol)
					if between {
						for i := range xv {
							xv[i] *= 2
						}
					}
					want1, _ := product(xv, wf[1], rows, in, out, true)
					expectClose(t, fmt.Sprintf("second product (between=%v)", between), read(t, b, y1, rows), want1, tol)
				}
			})
		})
	}
}

// TestMMOccupancy checks that one multiprocessor holds the blocks each prompt kernel's
// build (mmBuild; where the sm_90a modules are loaded wsBuild, wrBuilds and
// longBuild) says of its 3- and 4-bit kernels with the dynamic shared memory of
// LLaMA-65B's widest K (688 chunks), and that none spills registers to local memory.
func TestMMOccupancy(t *testing.T) {
	b := open(t, small)
	for _, bits := range []int{3, 4} {
		builds := promptBuilds(b, bits)
		if b.dev.hopper && bits == 4 {
			builds = append(builds, longBuild) // one kernel for both widths
		}
		for _, k := range builds {
			name, shared := k.name(bits), k.shared(bits, 22016/32)
			var local, blocks, regs int
			err := b.th.Do(ctx, func() error {
				f, err := b.dev.fn(name)
				if err != nil {
					return err
				}
				if err := b.dev.allowShared(name, f, shared); err != nil {
					return err
				}
				if local, err = f.Attribute(cu.LocalSizeBytes); err != nil {
					return err
				}
				if regs, err = f.Attribute(cu.NumRegs); err != nil {
					return err
				}
				blocks, err = f.MaxActiveBlocksPerMultiProcessor(k.threads(), int64(shared))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if blocks < k.perSM || local > 0 {
				t.Errorf("%s: %d blocks per multiprocessor (its build says %d), %d bytes of local memory", name, blocks, k.perSM, local)
			}
			t.Logf("%s: %d registers, %d bytes local memory, %d bytes dynamic shared memory, %d blocks per multiprocessor", name, regs, local, shared, blocks)
		}
	}
}

// checkMatMul multiplies fresh random rows by w on the device and checks them against
// wf (w dequantized) in float64.
func checkMatMul(t *testing.T, r *rand.Rand, b *Backend, w engine.Tensor, wf []float32, rows, in, out int) {
	t.Helper()
	xv := randn(r, rows*in, 1)
	x, y := act(t, b, rows, in, xv), act(t, b, rows, out, nil)
	run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.MatMul(y, x, w) })
	want, tol := product(xv, wf, rows, in, out, rows > 1 || hasFast(w))
	expectClose(t, fmt.Sprintf("%d rows", rows), read(t, b, y, rows), want, tol)
}

// hasFast reports whether a decode product with w runs on the fast kernels
// (gptq_mvq3/gptq_mv4 at one row).
func hasFast(w engine.Tensor) bool {
	bits := w.(*tensor).q.bits
	return fastMatvec && (bits == 3 || bits == 4)
}

// product is x·wf in float64 and the tolerance of the kernel computing it: with half
// set, x is rounded to float16 first (the tensor-core path, and the fast decode
// kernels' half2 dot).
func product(xv, wf []float32, rows, in, out int, half bool) ([]float64, float64) {
	xr, tol := xv, 1e-5
	if half {
		xr, tol = roundHalf(xv), 2e-3
	}
	want := make([]float64, rows*out)
	for m := range rows {
		for k := range in {
			xk := float64(xr[m*in+k])
			for n := range out {
				want[m*out+n] += xk * float64(wf[k*out+n])
			}
		}
	}
	return want, tol
}

// TestMatVecShapes checks the decode product on LLaMA-sized layers, where each block
// takes several 32-row chunks (the loads of the next in flight) and groups change
// inside a block's range: one row, and decode batches of 5 and 64 rows on the
// fast kernels (gptq_tcN_mR, K split in several ranges).
func TestMatVecShapes(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Intermediate = 4096 // the float16 input of 64 rows of 4096
	b := open(t, s)
	for _, c := range []struct{ bits, group, in, out int }{
		{4, 128, 4096, 8192}, {4, 32, 4096, 4096}, {4, -1, 2048, 11008}, {3, 128, 4096, 4096},
	} {
		opt := gptqtest.PackOptions{Bits: c.bits, GroupSize: c.group, Format: "gptq", Perm: r.Perm(c.in)}
		w, wf := loadRandomQuant(t, r, b, "shape", c.in, c.out, opt)
		for _, fast := range matvecKernels(c.bits) {
			t.Run(fmt.Sprintf("%dbit/g%d/%dx%d/fast=%v", c.bits, c.group, c.in, c.out, fast), func(t *testing.T) {
				defer func(f bool) { fastMatvec = f }(fastMatvec)
				fastMatvec = fast
				checkMatMul(t, r, b, w, wf, 1, c.in, c.out)
				if fast {
					for _, rows := range []int{5, 64} {
						checkMatMul(t, r, b, w, wf, rows, c.in, c.out)
					}
				}
			})
		}
	}
}

// TestMatVecOneRow checks the one-row decode product of 3 and 4 bits (gptq_mvq3,
// gptq_mv4) for every group size, act-order, both zero formats and symmetric or not,
// on shapes whose K split leaves a last partial quad (1056 inputs: 33 chunks), whose
// columns end inside a block (2080, 352) and whose K is long (8192 inputs into 256
// columns: many splits); 3 bits also with K in at most three ranges (mvqRangesMax),
// so that each block takes many quads (22 at 8192 inputs) through its two-quad ring.
func TestMatVecOneRow(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Intermediate = 8192
	b := open(t, s)
	for _, bits := range []int{3, 4} {
		for _, c := range []struct{ in, out int }{{1024, 352}, {2048, 2080}, {1056, 512}, {8192, 256}} {
			for _, group := range []int{-1, 32, 64, 128} {
				if c.in%max(group, 1) != 0 {
					continue
				}
				for _, actOrder := range []bool{false, true} {
					opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Sym: r.IntN(2) == 0, Format: "gptq"}
					if r.IntN(2) == 0 {
						opt.Format = "gptq_v2"
					}
					if actOrder {
						opt.Perm = r.Perm(c.in)
					}
					name := fmt.Sprintf("%dbit/%dx%d/g%d/actorder=%v/%s/sym=%v", bits, c.in, c.out, group, actOrder, opt.Format, opt.Sym)
					w, wf := loadRandomQuant(t, r, b, name, c.in, c.out, opt)
					ranges := []int{0}
					if bits == 3 {
						ranges = append(ranges, 3)
					}
					for _, n := range ranges {
						t.Run(fmt.Sprintf("%s/ranges=%d", name, n), func(t *testing.T) {
							defer func(n int) { mvqRangesMax = n }(mvqRangesMax)
							mvqRangesMax = n
							checkMatMul(t, r, b, w, wf, 1, c.in, c.out)
						})
					}
				}
			}
		}
	}
}

// matvecKernels lists the decode kernels to check for bits: fastMatvec true and false.
func matvecKernels(bits int) []bool {
	if bits != 3 && bits != 4 {
		return []bool{false}
	}
	return []bool{true, false}
}

// batchKernels lists the kernel choices to check for bits: the fast kernels with
// every decode batch on tensor cores (gptq_tcN_mR) or on CUDA cores (gptq_mvN_rR),
// and the generic kernels.
func batchKernels(bits int) []struct{ fast, tc bool } {
	if bits != 3 && bits != 4 {
		return []struct{ fast, tc bool }{{false, false}}
	}
	return []struct{ fast, tc bool }{{true, true}, {true, false}, {false, false}}
}

// TestTCOccupancy checks that one multiprocessor holds the blocks tcKernels says of
// each gptq_tcN_mR build, with their static shared memory within a block's 48 KB, and
// that tcDefaults' kernels are builds that take their rows.
func TestTCOccupancy(t *testing.T) {
	b := open(t, small)
	for _, d := range tcDefaults {
		if !slices.Contains(tcKernels, d.c.k) || d.c.k.rows < d.rows {
			t.Errorf("default for %d rows: %v, not a build that takes them", d.rows, d.c)
		}
	}
	for _, bits := range []int{3, 4} {
		for _, k := range tcKernels {
			name := k.name(bits)
			var static, local, blocks, regs int
			err := b.th.Do(ctx, func() error {
				f, err := b.dev.fn(name)
				if err != nil {
					return err
				}
				if static, err = f.Attribute(cu.SharedSizeBytes); err != nil {
					return err
				}
				if local, err = f.Attribute(cu.LocalSizeBytes); err != nil {
					return err
				}
				if regs, err = f.Attribute(cu.NumRegs); err != nil {
					return err
				}
				blocks, err = f.MaxActiveBlocksPerMultiProcessor(k.cols(), 0)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if static > 48<<10 || blocks < k.perSM {
				t.Errorf("%s: %d bytes static shared memory, %d blocks per multiprocessor, tcKernels says %d", name, static, blocks, k.perSM)
			}
			t.Logf("%s: %d registers, %d bytes local memory, %d bytes static shared memory, %d blocks per multiprocessor", name, regs, local, static, blocks)
		}
	}
}

// tcTestConfigs is every tcKernels build under every split policy, and split into
// one and three K ranges, the configurations TestTCConfigs checks and
// BenchmarkTCSweep times (the fill and waves policies).
func tcTestConfigs() []tcConfig {
	var cs []tcConfig
	for _, k := range tcKernels {
		for _, split := range []int{tcSplitFill, tcSplitWaves, 1, 3} {
			cs = append(cs, tcConfig{k, split})
		}
	}
	return cs
}

// TestTCConfigs checks every tensor-core configuration (tcTestConfigs) against the
// reference in float64, on 3- and 4-bit weights with and without groups and
// act-order (the raw builds run those with one group per four-chunk block, and fall
// back to the others for groups of 32), 2208 inputs (69 chunks: 18 four-chunk blocks,
// the last of one chunk, not a multiple of any prefetch depth, ranges of unequal
// length) into two weights of 1184 and 608 columns of the same input, one launch
// (a partial column block for every width, the second weight's blocks after the
// first's), at batches of 2 and 5 rows up to each kernel's most; each batch's
// reference is computed once for all configurations.
func TestTCConfigs(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Intermediate = 4096
	b := open(t, s)
	defer func(m, r4 int, f *tcConfig, u bool) {
		tcRowsMin, mvR4Rows, tcForce, tcUnderfill = m, r4, f, u
	}(tcRowsMin, mvR4Rows, tcForce, tcUnderfill)
	tcRowsMin, mvR4Rows, tcUnderfill = 2, 0, true
	const in = 2208
	outs := [2]int{1184, 608}
	for _, q := range []struct {
		bits, group int
		actOrder    bool
	}{{4, -1, false}, {4, 128, true}, {3, -1, false}, {3, 128, false}, {3, 32, true}} {
		opt := gptqtest.PackOptions{Bits: q.bits, GroupSize: q.group, Sym: r.IntN(2) == 0, Format: "gptq"}
		if q.actOrder {
			opt.Perm = r.Perm(in) // both weights': a launch gathers its input through one permutation
		}
		name := fmt.Sprintf("%dbit/g%d/actorder=%v", q.bits, q.group, q.actOrder)
		var ws [2]engine.Tensor
		var wfs [2][]float32
		for i, out := range outs {
			ws[i], wfs[i] = loadRandomQuant(t, r, b, name, in, out, opt)
			if raw := ws[i].(*tensor).q.quadGroups; raw != (q.group != 32) {
				t.Fatalf("%s: one group per four-chunk block %v, want %v", name, raw, q.group != 32)
			}
		}
		for _, rows := range []int{2, 5, 16, 32, 64} {
			xv := randn(r, rows*in, 1)
			x := act(t, b, rows, in, xv)
			var ys [2]engine.Tensor
			var wants [2][]float64
			var tols [2]float64
			for i, out := range outs {
				wants[i], tols[i] = product(xv, wfs[i], rows, in, out, true)
				ys[i] = act(t, b, rows, out, nil)
			}
			for _, c := range tcTestConfigs() {
				if c.k.rows < rows || (rows > 5 && c.k.rows != rows) {
					continue
				}
				t.Run(fmt.Sprintf("%s/%v/rows=%d", name, c, rows), func(t *testing.T) {
					tcForce = &c
					poison(t, b, ys[0])
					poison(t, b, ys[1])
					run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.MatMul(ys[0], x, ws[0]); o.MatMul(ys[1], x, ws[1]) })
					for i := range ys {
						expectClose(t, fmt.Sprintf("%d rows, weight %d", rows, i), read(t, b, ys[i], rows), wants[i], tols[i])
					}
				})
			}
		}
	}
}

// TestQuadGroups checks which chunk groups the raw tensor-core builds take: one group
// per four chunks from the first, the last block possibly short.
func TestQuadGroups(t *testing.T) {
	for _, c := range []struct {
		cgroup []int32
		want   bool
	}{
		{[]int32{0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{[]int32{0, 0, 0, 0, 1, 1, 1, 1, 2}, true},
		{[]int32{3, 3, 3, 3, 0, 0, 0, 0}, true},
		{[]int32{0, 0, 1, 1, 2, 2, 3, 3}, false},
		{[]int32{0, 0, 0, 0, 1, 1, 1, 2}, false},
		{[]int32{0, 0, 0, 1}, false},
	} {
		if got := quadGroups(c.cgroup); got != c.want {
			t.Errorf("quadGroups(%v) = %v, want %v", c.cgroup, got, c.want)
		}
	}
}

// TestMatVecOccupancy checks what the decode grid assumes of the one-row kernels: the
// static shared memory left beside mvSharedMax (gptq_mv4) and mvqSharedMax
// (gptq_mvq3), and mvPerSM and mvqPerSM blocks resident on one multiprocessor with the
// dynamic shared memory of 32 chunks per split (65B products take 8–88 on gptq_mvq3);
// and mvRowsPerSM blocks of the batch kernels gptq_mvN_rR with 64 chunks per split.
func TestMatVecOccupancy(t *testing.T) {
	b := open(t, small)
	for _, bits := range []int{3, 4} {
		t.Run(fmt.Sprintf("%dbit", bits), func(t *testing.T) {
			// the one-row kernel: gptq_mvq3 or gptq_mv4
			name, sharedMax, perSM, shared := "gptq_mv4", mvSharedMax, mvPerSM, mvShared(32)
			if bits == 3 {
				name, sharedMax, perSM, shared = "gptq_mvq3", mvqSharedMax, mvqPerSM, mvqShared(32)
			}
			var static, blocks int
			err := b.th.Do(ctx, func() error {
				f, err := b.dev.fn(name)
				if err != nil {
					return err
				}
				if static, err = f.Attribute(cu.SharedSizeBytes); err != nil {
					return err
				}
				blocks, err = f.MaxActiveBlocksPerMultiProcessor(128, int64(shared))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if static+sharedMax != 48<<10 {
				t.Errorf("%s: static shared memory %d + %d left != 48 KB", name, static, sharedMax)
			}
			if blocks < perSM {
				t.Errorf("%s: %d blocks per multiprocessor, the grid assumes %d", name, blocks, perSM)
			}
			t.Logf("%s: %d bytes static shared memory, %d blocks per multiprocessor", name, static, blocks)
			for _, r := range []int{4, 16} {
				var rowBlocks, rowStatic int
				err := b.th.Do(ctx, func() error {
					f, err := b.dev.fn(fmt.Sprintf("gptq_mv%d_r%d", bits, r))
					if err != nil {
						return err
					}
					if rowStatic, err = f.Attribute(cu.SharedSizeBytes); err != nil {
						return err
					}
					rowBlocks, err = f.MaxActiveBlocksPerMultiProcessor(128, 4*64)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if rowStatic+mvRowsSharedMax > 48<<10 {
					t.Errorf("gptq_mv%d_r%d: static shared memory %d + mvRowsSharedMax %d > 48 KB", bits, r, rowStatic, mvRowsSharedMax)
				}
				if rowBlocks < mvRowsPerSM(r) {
					t.Errorf("gptq_mv%d_r%d: %d blocks per multiprocessor, mvRowsPerSM says %d", bits, r, rowBlocks, mvRowsPerSM(r))
				}
			}
		})
	}
}

// TestMatVecEarly checks one-row products launched early (oneRowEarly: each may start
// before the kernel ahead of it finishes) and as usual, 3 and 4 bits: a chain of four
// products, each reading what the one before wrote (the second the residual its
// predecessor's fused add wrote), K split in ranges, twice (the second Run captured as
// a graph), against the same chain in float64.
func TestMatVecEarly(t *testing.T) {
	defer func(e bool) { oneRowEarly = e }(oneRowEarly)
	r := newRNG(t)
	const in = 1024
	shape := small
	shape.Intermediate = in
	b := open(t, shape)
	for _, c := range []struct {
		bits  int
		early bool
	}{{3, true}, {4, true}, {3, false}, {4, false}} {
		bits := c.bits
		t.Run(fmt.Sprintf("%dbit/early=%v", bits, c.early), func(t *testing.T) {
			oneRowEarly = c.early
			var ws []engine.Tensor
			var wfs [][]float32
			for _, group := range []int{128, -1, 32, 64} {
				w, wf := loadRandomQuant(t, r, b, "early", in, in, gptqtest.PackOptions{Bits: bits, GroupSize: group, Format: "gptq", Perm: r.Perm(in)})
				ws, wfs = append(ws, w), append(wfs, wf)
			}
			xv, resv := randn(r, in, 1), randn(r, in, 1)
			prod := func(v []float32, i int) []float64 {
				want, _ := product(v, wfs[i], 1, in, in, true)
				return want
			}
			f32 := func(v []float64) []float32 {
				out := make([]float32, len(v))
				for i := range v {
					out[i] = float32(v[i])
				}
				return out
			}
			h1 := prod(xv, 0)
			res1 := make([]float64, in)
			for i := range res1 {
				res1[i] = float64(resv[i]) + h1[i]
			}
			h4 := prod(f32(prod(f32(prod(f32(res1), 1)), 2)), 3)
			x, res := act(t, b, 1, in, xv), act(t, b, 1, in, nil)
			h := []engine.Tensor{act(t, b, 1, in, nil), act(t, b, 1, in, nil), act(t, b, 1, in, nil), act(t, b, 1, in, nil)}
			for range 2 {
				write(t, b, res, resv)
				for _, y := range h {
					poison(t, b, y)
				}
				run(t, b, ids(r, 1, small.Vocab), 0, func(o engine.Ops) {
					o.MatMul(h[0], x, ws[0])
					o.Add(res, res, h[0])
					o.MatMul(h[1], res, ws[1])
					o.MatMul(h[2], h[1], ws[2])
					o.MatMul(h[3], h[2], ws[3])
				})
				if n := len(b.prog.ops); n != 4 {
					t.Errorf("%d launches, want 4", n)
				}
				expectClose(t, "res", read(t, b, res, 1), res1, 2e-3)
				expectClose(t, "h4", read(t, b, h[3], 1), h4, 5e-3)
			}
		})
	}
}

// TestMatVecFused checks the decode products that the backend launches together:
// products of one input (q/k/v, gate/up; each weight with its own groups and
// act-order), a product with the residual Add that follows it, and the sequences that
// must not be fused; each case also checks how many launches the step took.
func TestMatVecFused(t *testing.T) {
	r := newRNG(t)
	const in = 1024
	// The backend's decode buffers (the raw build's gathered input among them) are
	// sized for products of at most max(Hidden, Intermediate) inputs, as a model's are.
	shape := small
	shape.Intermediate = in
	b := open(t, shape)
	for _, bits := range []int{3, 4} {
		mk := func(out, group int, perm bool) (engine.Tensor, []float32) {
			opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Format: "gptq"}
			if perm {
				opt.Perm = r.Perm(in)
			}
			return loadRandomQuant(t, r, b, "fused", in, out, opt)
		}
		wq, fq := mk(1024, 128, true)
		wk, fk := mk(352, 32, false)
		wv, fv := mk(2080, -1, true)
		wo, fo := mk(in, 64, true)
		for _, rows := range []int{1, 6, 20} {
			x2v := randn(r, rows*in, 1)
			t.Run(fmt.Sprintf("%dbit/rows=%d", bits, rows), func(t *testing.T) {
				xv, resv := randn(r, rows*in, 1), randn(r, rows*in, 1)
				prod := func(xv, wf []float32, out int) []float64 {
					want, _ := product(xv, wf, rows, in, out, true)
					return want
				}
				plus := func(a []float32, b []float64) []float64 {
					s := make([]float64, len(b))
					for i := range b {
						s[i] = float64(a[i]) + b[i]
					}
					return s
				}
				const tol = 2e-3
				type outs struct{ q, k, v, h, res, x2 engine.Tensor }
				fresh := func() outs {
					return outs{act(t, b, rows, 1024, nil), act(t, b, rows, 352, nil), act(t, b, rows, 2080, nil),
						act(t, b, rows, in, nil), act(t, b, rows, in, resv), act(t, b, rows, in, x2v)}
				}
				for _, c := range []struct {
					name     string
					launches int // at one row; a batch adds a gather per product launch and fuses only weights of one permutation (v, one group, has none)
					batch    int
					step     func(o engine.Ops, x engine.Tensor, u outs)
					check    func(t *testing.T, u outs)
				}{
					{"qkv", 1, 4, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.q, x, wq)
						o.MatMul(u.k, x, wk)
						o.MatMul(u.v, x, wv)
					}, func(t *testing.T, u outs) {
						expectClose(t, "q", read(t, b, u.q, rows), prod(xv, fq, 1024), tol)
						expectClose(t, "k", read(t, b, u.k, rows), prod(xv, fk, 352), tol)
						expectClose(t, "v", read(t, b, u.v, rows), prod(xv, fv, 2080), tol)
					}},
					{"four products of one input", 2, 6, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.q, x, wq)
						o.MatMul(u.k, x, wk)
						o.MatMul(u.v, x, wv)
						o.MatMul(u.h, x, wo)
					}, func(t *testing.T, u outs) {
						expectClose(t, "v", read(t, b, u.v, rows), prod(xv, fv, 2080), tol)
						expectClose(t, "h", read(t, b, u.h, rows), prod(xv, fo, in), tol)
					}},
					{"other input", 2, 4, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.q, x, wq)
						o.MatMul(u.v, u.x2, wv)
					}, func(t *testing.T, u outs) {
						expectClose(t, "q", read(t, b, u.q, rows), prod(xv, fq, 1024), tol)
						expectClose(t, "v", read(t, b, u.v, rows), prod(x2v, fv, 2080), tol)
					}},
					{"same output twice", 2, 4, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, x, wq)
						o.MatMul(u.h, x, wo)
					}, func(t *testing.T, u outs) {
						expectClose(t, "h", read(t, b, u.h, rows), prod(xv, fo, in), tol)
					}},
					{"res += h", 1, 2, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, x, wo)
						o.Add(u.res, u.res, u.h)
					}, func(t *testing.T, u outs) {
						h := prod(xv, fo, in)
						expectClose(t, "h", read(t, b, u.h, rows), h, tol)
						expectClose(t, "res", read(t, b, u.res, rows), plus(resv, h), tol)
					}},
					{"x2 = h + res", 1, 2, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, x, wo)
						o.Add(u.x2, u.h, u.res)
					}, func(t *testing.T, u outs) {
						expectClose(t, "x2", read(t, b, u.x2, rows), plus(resv, prod(xv, fo, in)), tol)
					}},
					{"h = res + h", 1, 2, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, x, wo)
						o.Add(u.h, u.res, u.h)
					}, func(t *testing.T, u outs) {
						expectClose(t, "h", read(t, b, u.h, rows), plus(resv, prod(xv, fo, in)), tol)
					}},
					{"input += h (not fused)", 2, 3, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, u.x2, wo)
						o.Add(u.x2, u.x2, u.h)
					}, func(t *testing.T, u outs) {
						expectClose(t, "x2", read(t, b, u.x2, rows), plus(x2v, prod(x2v, fo, in)), tol)
					}},
					{"h + h (not fused)", 2, 3, func(o engine.Ops, x engine.Tensor, u outs) {
						o.MatMul(u.h, x, wo)
						o.Add(u.res, u.h, u.h)
					}, func(t *testing.T, u outs) {
						h := prod(xv, fo, in)
						for i := range h {
							h[i] *= 2
						}
						expectClose(t, "res", read(t, b, u.res, rows), h, tol)
					}},
				} {
					t.Run(c.name, func(t *testing.T) {
						x, u := act(t, b, rows, in, xv), fresh()
						step := func(o engine.Ops) { c.step(o, x, u) }
						// twice: the second Run is captured as a graph
						for range 2 {
							write(t, b, u.res, resv)
							write(t, b, u.x2, x2v)
							for _, y := range []engine.Tensor{u.q, u.k, u.v, u.h} {
								poison(t, b, y)
							}
							run(t, b, ids(r, rows, small.Vocab), 0, step)
							want := c.launches
							if rows > 1 {
								want = c.batch
							}
							if n := len(b.prog.ops); n != want {
								t.Errorf("%d launches, want %d", n, want)
							}
							c.check(t, u)
						}
					})
				}
			})
		}
	}
}

func roundHalf(v []float32) []float32 {
	raw := make([]byte, 2*len(v))
	half.Encode(raw, v)
	out := make([]float32, len(v))
	half.Decode(out, raw)
	return out
}

func TestMatMulDense(t *testing.T) {
	defer func(f bool) { fastDense = f }(fastDense)
	r := newRNG(t)
	b := open(t, small)
	const K, N = 256, 1000 // 1000 rows of W: a partial 64-row block
	w, wf := denseW(t, b, N, K, randn(r, N*K, 1/math.Sqrt(K)))
	// 1: gemv_f16; 2..32: dense_rowsR (partial row tiles at 2, 13, 24; fast=false
	// runs gemm_f16 on 16); 33, 64, 67: gemm_f16.
	for _, c := range []struct {
		rows int
		fast bool
	}{{1, true}, {2, true}, {8, true}, {13, true}, {16, true}, {16, false}, {24, true}, {32, true}, {33, true}, {64, true}, {67, true}} {
		rows := c.rows
		fastDense = c.fast
		xv := randn(r, rows*K, 1)
		x, y := act(t, b, rows, K, xv), act(t, b, rows, N, nil)
		run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.MatMul(y, x, w) })
		xr, tol := xv, 1e-5
		if rows > 1 {
			xr, tol = roundHalf(xv), 1e-3
		}
		want := make([]float64, rows*N)
		for m := range rows {
			for n := range N {
				for k := range K {
					want[m*N+n] += float64(xr[m*K+k]) * float64(wf[n*K+k])
				}
			}
		}
		expectClose(t, fmt.Sprintf("%d rows/fast=%v", rows, c.fast), read(t, b, y, rows), want, tol)
	}
}

// TestMatMulLast checks engine.LastRowOps: the last row of a dense product alone, as
// gemv_f16 computes a one-row step's (float32 input), at 1, 67 and 300 rows, the
// other rows left as they were; a quantized weight takes MatMul on every row.
func TestMatMulLast(t *testing.T) {
	r := newRNG(t)
	b := open(t, small)
	const K, N = 256, 1000
	w, wf := denseW(t, b, N, K, randn(r, N*K, 1/math.Sqrt(K)))
	for _, rows := range []int{1, 67, 300} {
		xv := randn(r, rows*K, 1)
		x, y := act(t, b, rows, K, xv), act(t, b, rows, N, nil)
		before := read(t, b, y, rows)
		run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.(engine.LastRowOps).MatMulLast(y, x, w) })
		got := read(t, b, y, rows)
		want := make([]float64, N)
		for n := range N {
			for k := range K {
				want[n] += float64(xv[(rows-1)*K+k]) * float64(wf[n*K+k])
			}
		}
		expectClose(t, fmt.Sprintf("%d rows, the last", rows), got[(rows-1)*N:], want, 1e-5)
		for i := range (rows - 1) * N {
			if math.Float32bits(got[i]) != math.Float32bits(before[i]) {
				t.Fatalf("%d rows: row %d written", rows, i/N)
			}
		}
	}
	qw, err := gptqtest.Quantize("q", randn(r, K*64, 1/math.Sqrt(K)), K, 64, gptqtest.PackOptions{Bits: 4, GroupSize: 128, Format: "gptq"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := b.LoadQuant(ctx, qw)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 67
	xv := randn(r, rows*K, 1)
	x, y := act(t, b, rows, K, xv), act(t, b, rows, 64, nil)
	run(t, b, ids(r, rows, small.Vocab), 0, func(o engine.Ops) { o.(engine.LastRowOps).MatMulLast(y, x, q) })
	want, tol := product(xv, gptqtest.Dequantize(qw), rows, K, 64, true)
	expectClose(t, "quantized, every row", read(t, b, y, rows), want, tol)
}

func TestEmbedNormAddSiLU(t *testing.T) {
	r := newRNG(t)
	b := open(t, small)
	const D, rows = 256, 33
	table, tf := denseW(t, b, small.Vocab, D, randn(r, small.Vocab*D, 1))
	batch := ids(r, rows, small.Vocab)
	x := act(t, b, rows, D, nil)
	run(t, b, batch, 0, func(o engine.Ops) { o.Embed(x, table) })
	want := make([]float64, rows*D)
	for m, id := range batch {
		for d := range D {
			want[m*D+d] = float64(tf[int(id)*D+d])
		}
	}
	expectClose(t, "embed", read(t, b, x, rows), want, 0)

	hv := randn(r, rows*D, 3)
	nw, nwf := denseW(t, b, 1, D, randn(r, D, 1))
	h, y := act(t, b, rows, D, hv), act(t, b, rows, D, nil)
	const eps = 1e-5
	run(t, b, batch, 0, func(o engine.Ops) { o.RMSNorm(y, h, nw, eps) })
	for m := range rows {
		var ss float64
		for d := range D {
			ss += float64(hv[m*D+d]) * float64(hv[m*D+d])
		}
		s := 1 / math.Sqrt(ss/D+eps)
		for d := range D {
			want[m*D+d] = float64(hv[m*D+d]) * s * float64(nwf[d])
		}
	}
	expectClose(t, "rmsnorm", read(t, b, y, rows), want, 1e-6)

	checkAddSiLU(t, r, b, batch, D)
	checkAddSiLU(t, r, b, batch, D-1) // 33×255 elements: not whole float4s
}

// checkAddSiLU checks Add and SiLUMul on len(batch) rows of D columns.
func checkAddSiLU(t *testing.T, r *rand.Rand, b *Backend, batch []int32, D int) {
	t.Helper()
	rows := len(batch)
	av, bv := randn(r, rows*D, 2), randn(r, rows*D, 2)
	a, c, sum, silu := act(t, b, rows, D, av), act(t, b, rows, D, bv), act(t, b, rows, D, nil), act(t, b, rows, D, nil)
	run(t, b, batch, 0, func(o engine.Ops) { o.Add(sum, a, c); o.SiLUMul(silu, a, c) })
	wantSum, wantSilu := make([]float64, rows*D), make([]float64, rows*D)
	for i := range wantSum {
		g := float64(av[i])
		wantSum[i] = g + float64(bv[i])
		wantSilu[i] = g / (1 + math.Exp(-g)) * float64(bv[i])
	}
	expectClose(t, fmt.Sprintf("add of %d columns", D), read(t, b, sum, rows), wantSum, 1e-7)
	expectClose(t, fmt.Sprintf("silu of %d columns", D), read(t, b, silu, rows), wantSilu, 1e-5)
}

// TestRMSNormWidths checks RMSNorm on rows held in registers (up to 8192 columns, 65B's
// hidden size) and on wider rows, read twice.
func TestRMSNormWidths(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Hidden, s.Intermediate = 8192+32, 8192+32
	b := open(t, s)
	const rows, eps = 3, 1e-5
	for _, D := range []int{8192, 8192 + 32} {
		hv := randn(r, rows*D, 2)
		nw, nwf := denseW(t, b, 1, D, randn(r, D, 1))
		h, y := act(t, b, rows, D, hv), act(t, b, rows, D, nil)
		run(t, b, ids(r, rows, s.Vocab), 0, func(o engine.Ops) { o.RMSNorm(y, h, nw, eps); o.RMSNorm(h, h, nw, eps) })
		want := make([]float64, rows*D)
		for m := range rows {
			var ss float64
			for d := range D {
				ss += float64(hv[m*D+d]) * float64(hv[m*D+d])
			}
			sc := 1 / math.Sqrt(ss/float64(D)+eps)
			for d := range D {
				want[m*D+d] = float64(hv[m*D+d]) * sc * float64(nwf[d])
			}
		}
		expectClose(t, fmt.Sprintf("%d columns", D), read(t, b, y, rows), want, 1e-6)
		expectClose(t, fmt.Sprintf("%d columns in place", D), read(t, b, h, rows), want, 1e-6)
	}
}

func ropeRef(v []float32, rows, heads, hd, start int, theta float64) []float64 {
	out := make([]float64, len(v))
	for m := range rows {
		p := float64(start + m)
		for h := range heads {
			base := m*heads*hd + h*hd
			for j := range hd / 2 {
				a := p / math.Pow(theta, float64(2*j)/float64(hd))
				x1, x2 := float64(v[base+j]), float64(v[base+j+hd/2])
				out[base+j] = x1*math.Cos(a) - x2*math.Sin(a)
				out[base+j+hd/2] = x2*math.Cos(a) + x1*math.Sin(a)
			}
		}
	}
	return out
}

func TestRoPE(t *testing.T) {
	r := newRNG(t)
	b := open(t, small)
	const rows, heads, hd, start = 20, 4, 64, 1900
	v := randn(r, rows*heads*hd, 1)
	x := act(t, b, rows, heads*hd, v)
	run(t, b, ids(r, rows, small.Vocab), start, func(o engine.Ops) { o.RoPE(x, hd, 10000) })
	// float32 angles at positions near 2000 are what transformers computes too
	expectClose(t, "rope", read(t, b, x, rows), ropeRef(v, rows, heads, hd, start, 10000), 2e-4)
}

// attentionRef is causal attention in float64 for query rows qv (heads×hd each) at
// positions pos[m], over keys and values ks, vs by position (kvHeads×hd each).
func attentionRef(qv []float64, pos []int, ks, vs [][]float64, heads, kvHeads, hd int) []float64 {
	qw := heads * hd
	want := make([]float64, len(pos)*qw)
	for m, p := range pos {
		for h := range heads {
			g := h / (heads / kvHeads)
			sc := make([]float64, p+1)
			mx := math.Inf(-1)
			for t := range p + 1 {
				for d := range hd {
					sc[t] += qv[m*qw+h*hd+d] * ks[t][g*hd+d]
				}
				sc[t] /= math.Sqrt(float64(hd))
				mx = math.Max(mx, sc[t])
			}
			var z float64
			for t := range sc {
				sc[t] = math.Exp(sc[t] - mx)
				z += sc[t]
			}
			for d := range hd {
				var a float64
				for t := range sc {
					a += sc[t] * vs[t][g*hd+d]
				}
				want[m*qw+h*hd+d] = a / z
			}
		}
	}
	return want
}

// halfRef rounds float64 values to float16 as the cache stores them.
func halfRef(v []float64) []float64 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	out := make([]float64, len(v))
	for i, x := range roundHalf(f) {
		out[i] = float64(x)
	}
	return out
}

// TestRoPEAttention checks RoPE(q), RoPE(k), Attention as llama.Model issues them
// (rope_store_own or rope_store_paged rotating both and storing k and v, one launch):
// the output against RoPE then attention in float64, q and k left rotated in place;
// and RoPE alone under RunBatch (each row at its own position).
func TestRoPEAttention(t *testing.T) {
	const heads, kvHeads, hd, theta = 8, 2, 128, 10000
	qw, kw := heads*hd, kvHeads*hd
	s := engine.Shape{Hidden: qw, Intermediate: 512, Layers: 1, Heads: heads, KVHeads: kvHeads, HeadDim: hd,
		Vocab: 1000, Context: 2048, MaxBatch: 64}
	f64 := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	rows := func(v []float64, w int) [][]float64 {
		var out [][]float64
		for i := 0; i < len(v); i += w {
			out = append(out, v[i:i+w])
		}
		return out
	}
	t.Run("own", func(t *testing.T) {
		r := newRNG(t)
		b := open(t, s)
		cache, err := b.NewCache(ctx, kvHeads, hd)
		if err != nil {
			t.Fatal(err)
		}
		var ks, vs [][]float64
		for _, chunk := range []struct{ start, rows int }{{0, 40}, {40, 1}, {41, 1}, {42, 3}} {
			n := chunk.rows
			qv, kv, vv := randn(r, n*qw, 1), randn(r, n*kw, 1), randn(r, n*kw, 1)
			q, k, v, out := act(t, b, n, qw, qv), act(t, b, n, kw, kv), act(t, b, n, kw, vv), act(t, b, n, qw, nil)
			run(t, b, ids(r, n, s.Vocab), chunk.start, func(o engine.Ops) {
				o.RoPE(q, hd, theta)
				o.RoPE(k, hd, theta)
				o.Attention(out, q, k, v, cache)
			})
			qr, kr := ropeRef(qv, n, heads, hd, chunk.start, theta), ropeRef(kv, n, kvHeads, hd, chunk.start, theta)
			expectClose(t, fmt.Sprintf("q at %d", chunk.start), read(t, b, q, n), qr, 2e-5)
			expectClose(t, fmt.Sprintf("k at %d", chunk.start), read(t, b, k, n), kr, 2e-5)
			ks, vs = append(ks, rows(halfRef(kr), kw)...), append(vs, rows(halfRef(f64(vv)), kw)...)
			pos := make([]int, n)
			for m := range pos {
				pos[m] = chunk.start + m
			}
			tol := 1e-4
			if n > 1 {
				tol = 2e-3 // attention_prompt128: float16 scores
			}
			expectClose(t, fmt.Sprintf("attention at %d", chunk.start), read(t, b, out, n), attentionRef(qr, pos, ks, vs, heads, kvHeads, hd), tol)
		}
	})
	t.Run("paged", func(t *testing.T) {
		r := newRNG(t)
		b := open(t, s)
		const bs = 16
		c, err := b.NewPagedCache(ctx, kvHeads, hd, 64, bs)
		if err != nil {
			t.Fatal(err)
		}
		perm := r.Perm(64)
		tabs := [][]int32{{}, {}}
		for i, blk := range perm {
			tabs[i%2] = append(tabs[i%2], int32(blk))
		}
		ks, vs := [2][][]float64{}, [2][][]float64{}
		q, k, v, out := act(t, b, 64, qw, nil), act(t, b, 64, kw, nil), act(t, b, 64, kw, nil), act(t, b, 64, qw, nil)
		// Both sequences' prompts (37 and 20 rows), then decode steps of one row each.
		for _, lens := range [][2]int{{37, 20}, {38, 21}, {39, 22}} {
			bt := engine.Batch{Tables: tabs}
			for sq := range 2 {
				for p := len(ks[sq]); p < lens[sq]; p++ {
					bt.Pos, bt.Seq, bt.IDs = append(bt.Pos, int32(p)), append(bt.Seq, int32(sq)), append(bt.IDs, 0)
				}
			}
			n := len(bt.Pos)
			qv, kv, vv := randn(r, n*qw, 1), randn(r, n*kw, 1), randn(r, n*kw, 1)
			write(t, b, q, qv)
			write(t, b, k, kv)
			write(t, b, v, vv)
			poison(t, b, out)
			if err := b.RunBatch(ctx, bt, func(o engine.Ops) {
				o.RoPE(q, hd, theta)
				o.RoPE(k, hd, theta)
				o.Attention(out, q, k, v, c)
			}); err != nil {
				t.Fatal(err)
			}
			var qr, kr []float64
			for m := range n {
				p := int(bt.Pos[m])
				qr = append(qr, ropeRef(qv[m*qw:(m+1)*qw], 1, heads, hd, p, theta)...)
				kr = append(kr, ropeRef(kv[m*kw:(m+1)*kw], 1, kvHeads, hd, p, theta)...)
			}
			expectClose(t, fmt.Sprintf("q of %d rows", n), read(t, b, q, n), qr, 2e-5)
			expectClose(t, fmt.Sprintf("k of %d rows", n), read(t, b, k, n), kr, 2e-5)
			kh, vh := rows(halfRef(kr), kw), rows(halfRef(f64(vv)), kw)
			for m := range n {
				sq := bt.Seq[m]
				ks[sq], vs[sq] = append(ks[sq], kh[m]), append(vs[sq], vh[m])
			}
			got := read(t, b, out, n)
			for m := range n {
				sq, p := bt.Seq[m], int(bt.Pos[m])
				want := attentionRef(qr[m*qw:(m+1)*qw], []int{p}, ks[sq], vs[sq], heads, kvHeads, hd)
				expectClose(t, fmt.Sprintf("attention of row %d (sequence %d at %d)", m, sq, p), got[m*qw:(m+1)*qw], want, 1e-4)
			}
		}
		// RoPE alone: each row rotated at its own position.
		bt := engine.Batch{Tables: tabs, Pos: []int32{5, 1900 % 512, 0}, Seq: []int32{0, 1, 1}, IDs: []int32{0, 0, 0}}
		xv := randn(r, 3*qw, 1)
		write(t, b, q, xv)
		if err := b.RunBatch(ctx, bt, func(o engine.Ops) { o.RoPE(q, hd, theta) }); err != nil {
			t.Fatal(err)
		}
		var want []float64
		for m, p := range bt.Pos {
			want = append(want, ropeRef(xv[m*qw:(m+1)*qw], 1, heads, hd, int(p), theta)...)
		}
		expectClose(t, "RoPE alone", read(t, b, q, 3), want, 1e-4)
	})
}

// TestAttention checks prompts (several rows, from position 0 and later) and decode
// steps; fast=true runs prompts of head size 64 and 128 on attention_prompt (float16
// scores and probabilities: the tensor-core tolerance), fast=false on attention_split.
func TestAttention(t *testing.T) {
	for _, c := range []struct {
		heads, kvHeads, hd int
		fast               bool
	}{{4, 4, 64, true}, {8, 2, 128, true}, {4, 4, 64, false}, {8, 2, 128, false}, {6, 3, 32, true}} {
		t.Run(fmt.Sprintf("%dh/%dkv/%dd/fast=%v", c.heads, c.kvHeads, c.hd, c.fast), func(t *testing.T) {
			defer func(f bool) { fastAttention = f }(fastAttention)
			fastAttention = c.fast
			r := newRNG(t)
			s := small
			s.Heads, s.KVHeads, s.HeadDim, s.Hidden = c.heads, c.kvHeads, c.hd, c.heads*c.hd
			b := open(t, s)
			cache, err := b.NewCache(ctx, c.kvHeads, c.hd)
			if err != nil {
				t.Fatal(err)
			}
			qw, kw := c.heads*c.hd, c.kvHeads*c.hd
			var ks, vs [][]float32 // float16-rounded keys and values by position
			// A long prompt (several key tiles), a rewind, then single decode steps.
			// Then up to 1300 positions: decode steps whose key splits give each warp
			// several batches of keys.
			for _, chunk := range []struct{ start, rows int }{{0, 300}, {0, 290}, {290, 1}, {291, 1}, {292, 7},
				{299, 300}, {599, 300}, {899, 300}, {1199, 100}, {1299, 1}, {1300, 1}} {
				qv, kv, vv := randn(r, chunk.rows*qw, 1), randn(r, chunk.rows*kw, 1), randn(r, chunk.rows*kw, 1)
				q, k, v, out := act(t, b, chunk.rows, qw, qv), act(t, b, chunk.rows, kw, kv), act(t, b, chunk.rows, kw, vv), act(t, b, chunk.rows, qw, nil)
				run(t, b, ids(r, chunk.rows, s.Vocab), chunk.start, func(o engine.Ops) { o.Attention(out, q, k, v, cache) })
				ks, vs = ks[:chunk.start], vs[:chunk.start]
				for m := range chunk.rows {
					ks = append(ks, roundHalf(kv[m*kw:(m+1)*kw]))
					vs = append(vs, roundHalf(vv[m*kw:(m+1)*kw]))
				}
				want := make([]float64, chunk.rows*qw)
				for m := range chunk.rows {
					n := chunk.start + m + 1
					for h := range c.heads {
						g := h / (c.heads / c.kvHeads)
						sc := make([]float64, n)
						mx := math.Inf(-1)
						for tpos := range n {
							for d := range c.hd {
								sc[tpos] += float64(qv[m*qw+h*c.hd+d]) * float64(ks[tpos][g*c.hd+d])
							}
							sc[tpos] /= math.Sqrt(float64(c.hd))
							mx = math.Max(mx, sc[tpos])
						}
						var z float64
						for tpos := range n {
							sc[tpos] = math.Exp(sc[tpos] - mx)
							z += sc[tpos]
						}
						for d := range c.hd {
							var a float64
							for tpos := range n {
								a += sc[tpos] * float64(vs[tpos][g*c.hd+d])
							}
							want[m*qw+h*c.hd+d] = a / z
						}
					}
				}
				tol := 1e-4
				if c.fast && chunk.rows > 1 && (c.hd == 64 || c.hd == 128) {
					tol = 2e-3
				}
				expectClose(t, fmt.Sprintf("start %d rows %d", chunk.start, chunk.rows), read(t, b, out, chunk.rows), want, tol)
			}
		})
	}
}

// sampleRef is the device sampler's contract in float64: Hugging Face's steps, then
// the first id, in id order, where the cumulative probability passes u. ok is false
// when u lies so close to a boundary that float32 rounding may pick the neighbour.
func sampleRef(logits []float32, s engine.Sampling, hist []int32, u float64) (tok int, ok bool) {
	sc := make([]float64, len(logits))
	for i, l := range logits {
		sc[i] = float64(l)
	}
	if p := s.RepetitionPenalty; p != 0 && p != 1 {
		seen := map[int32]bool{}
		for _, id := range hist {
			if !seen[id] {
				seen[id] = true
				if sc[id] < 0 {
					sc[id] *= p
				} else {
					sc[id] /= p
				}
			}
		}
	}
	if s.Temperature == 0 {
		best := 0
		for i := range sc {
			if sc[i] > sc[best] {
				best = i
			}
		}
		return best, true
	}
	keep := make([]bool, len(sc))
	sorted := make([]float64, len(sc))
	for i := range sc {
		sc[i] /= s.Temperature
		sorted[i] = sc[i]
		keep[i] = true
	}
	slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
	if s.TopK > 0 && s.TopK < len(sc) {
		for i := range sc {
			keep[i] = sc[i] >= sorted[s.TopK-1]
		}
	}
	mx := sorted[0]
	p := make([]float64, len(sc))
	var z float64
	for i := range sc {
		if keep[i] {
			p[i] = math.Exp(sc[i] - mx)
			z += p[i]
		}
	}
	if s.TopP > 0 && s.TopP < 1 {
		// ascending cumulative mass; drop while it stays <= 1-topP
		var order []int
		for i := range sc {
			if keep[i] {
				order = append(order, i)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sc[a], sc[b]) })
		var cum float64
		for _, i := range order {
			cum += p[i] / z
			if cum > 1-s.TopP {
				break
			}
			keep[i] = false
		}
		z = 0
		for i := range sc {
			if keep[i] {
				z += p[i]
			}
		}
	}
	target, cum := u*z, 0.0
	for i := range sc {
		if keep[i] {
			cum += p[i]
			if cum > target {
				return i, math.Abs(cum-target) > 1e-4*z && math.Abs(cum-p[i]-target) > 1e-4*z
			}
		}
	}
	return -1, false
}

// samplingCases are the settings the sampling kernels are checked under: greedy,
// each setting alone and together.
var samplingCases = []engine.Sampling{
	{},
	{RepetitionPenalty: 1.3},
	{Temperature: 0.7},
	{Temperature: 0.7, TopK: 50},
	{Temperature: 1, TopP: 0.9},
	{Temperature: 0.7, TopK: 40, TopP: 0.95, RepetitionPenalty: 1.15},
	{Temperature: 1.3, TopK: 1},
}

func TestSample(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Vocab = 32000
	b := open(t, s)
	for _, c := range samplingCases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			checked := 0
			for range 12 {
				lv := randn(r, s.Vocab, 3)
				hist := ids(r, 1+r.IntN(100), s.Vocab)
				hist = append(hist, hist[0]) // a repeated id is penalized once
				logits := act(t, b, 1, s.Vocab, lv)
				u := r.Float64()
				got, err := b.Sample(ctx, logits, 0, c, hist, u)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := sampleRef(lv, c, hist, u)
				if !ok {
					continue
				}
				checked++
				if got != want {
					t.Errorf("u=%.6f: sampled %d, want %d", u, got, want)
				}
			}
			if checked < 6 {
				t.Errorf("only %d of 12 draws were far enough from a boundary to check", checked)
			}
		})
	}
}

// TestSampleRows samples rows of one activation with mixed settings, in a shuffled
// order that leaves some rows out, in one SampleRows call, and checks each id against
// Sample on a fresh copy of its row (the same device code: exactly equal) and
// against the float64 reference where the draw is far from a boundary. Rows that
// cannot be sampled fail alone with engine.RowErrors.
func TestSampleRows(t *testing.T) {
	r := newRNG(t)
	s := small
	s.Vocab, s.MaxBatch = 32000, 64
	b := open(t, s)
	settings := append(slices.Clone(samplingCases), engine.Sampling{Temperature: 1.1, RepetitionPenalty: 0.8, TopK: 40000})
	const nrows = 40
	checked, compared := 0, 0
	for round := range 4 {
		lv := randn(r, nrows*s.Vocab, 3)
		logits := act(t, b, nrows, s.Vocab, lv)
		var rows []engine.RowSample
		for _, row := range r.Perm(nrows)[:nrows-round*3] {
			hist := ids(r, r.IntN(200), s.Vocab)
			if len(hist) > 0 {
				hist = append(hist, hist[0]) // a repeated id is penalized once
			}
			rows = append(rows, engine.RowSample{Row: row, Sampling: settings[r.IntN(len(settings))], History: hist, U: r.Float64()})
		}
		got, err := b.SampleRows(ctx, logits, rows)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(rows) {
			t.Fatalf("%d ids for %d rows", len(got), len(rows))
		}
		for i, rs := range rows {
			row := lv[rs.Row*s.Vocab : (rs.Row+1)*s.Vocab]
			alone, err := b.Sample(ctx, act(t, b, 1, s.Vocab, row), 0, rs.Sampling, rs.History, rs.U)
			if err != nil {
				t.Fatal(err)
			}
			compared++
			if got[i] != alone {
				t.Errorf("row %d %+v u=%.6f: SampleRows gave %d, Sample %d", rs.Row, rs.Sampling, rs.U, got[i], alone)
			}
			if want, ok := sampleRef(row, rs.Sampling, rs.History, rs.U); ok {
				checked++
				if got[i] != want {
					t.Errorf("row %d %+v u=%.6f: sampled %d, want %d", rs.Row, rs.Sampling, rs.U, got[i], want)
				}
			}
		}
	}
	if checked < compared/2 {
		t.Errorf("only %d of %d draws were far enough from a boundary to check", checked, compared)
	}

	// Failures of single rows: the others are still sampled.
	lv := randn(r, 6*s.Vocab, 3)
	lv[2*s.Vocab+7] = float32(math.NaN())
	for v := range s.Vocab {
		lv[3*s.Vocab+v] = float32(math.Inf(-1))
	}
	warm := engine.Sampling{Temperature: 0.8}
	for _, c := range []struct {
		row int
		s   engine.Sampling
	}{{2, engine.Sampling{}}, {2, warm}, {3, warm}, {3, engine.Sampling{}}} {
		row := lv[c.row*s.Vocab : (c.row+1)*s.Vocab]
		if id, err := b.Sample(ctx, act(t, b, 1, s.Vocab, row), 0, c.s, nil, 0.5); !errors.Is(err, errNoToken) {
			t.Errorf("Sample of row %d %+v: %d, %v; want the no-token error", c.row, c.s, id, err)
		}
	}
	logits := act(t, b, 6, s.Vocab, lv)
	rows := []engine.RowSample{
		{Row: 0},
		{Row: 2},                 // a NaN
		{Row: 3, Sampling: warm}, // -Inf everywhere
		{Row: 0},                 // named twice
		{Row: 4, History: []int32{int32(s.Vocab)}},
		{Row: 5, Sampling: warm, U: 1},
		{Row: 6},
		{Row: 1, Sampling: engine.Sampling{TopP: 2}},
		{Row: 5, Sampling: warm, U: 0.5},
	}
	got, err := b.SampleRows(ctx, logits, rows)
	var re engine.RowErrors
	if !errors.As(err, &re) || len(re) != len(rows) {
		t.Fatalf("SampleRows with bad rows: %v, want RowErrors of %d", err, len(rows))
	}
	t.Log(err)
	for i, e := range re {
		if ok := i == 0 || i == len(rows)-1; ok != (e == nil) || ok != (got[i] >= 0) {
			t.Errorf("rows[%d] (row %d): id %d, error %v", i, rows[i].Row, got[i], e)
		}
	}
	if !errors.Is(re[1], errNoToken) || !errors.Is(re[2], errNoToken) {
		t.Errorf("NaN and -Inf rows: %v, %v; want the no-token error", re[1], re[2])
	}
	if want := sample.Argmax(lv[:s.Vocab]); got[0] != want {
		t.Errorf("greedy row 0 beside failing rows: %d, want %d", got[0], want)
	}
	if _, err := b.SampleRows(ctx, logits, make([]engine.RowSample, s.MaxBatch+1)); err == nil || errors.As(err, &re) {
		t.Errorf("%d rows for a max batch of %d: %v, want a whole-call error", s.MaxBatch+1, s.MaxBatch, err)
	}
	if _, err := b.SampleRows(ctx, act(t, b, 1, 100, nil), []engine.RowSample{{}}); err == nil || errors.As(err, &re) {
		t.Errorf("logits of 100 columns: %v, want a whole-call error", err)
	}
	if ids, err := b.SampleRows(ctx, logits, nil); err != nil || len(ids) != 0 {
		t.Errorf("no rows: %v, %v", ids, err)
	}
}

func TestErrors(t *testing.T) {
	b, err := openDevice(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	huge := small
	huge.WeightBytes = 1 << 50
	if err := b.Reserve(ctx, huge); !errors.Is(err, engine.ErrNoMemory) {
		t.Fatalf("Reserve of 1 PiB: %v", err)
	} else {
		t.Log(err)
	}
	if err := b.Reserve(ctx, small); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewActivation(ctx, 1<<20, 1<<20); err == nil {
		t.Error("a 4 TiB activation was allocated")
	} else {
		t.Log(err)
	}
	x, _ := b.NewActivation(ctx, 4, 256)
	y, _ := b.NewActivation(ctx, 4, 100)
	if err := b.Run(ctx, []int32{1, 2}, 0, func(o engine.Ops) { o.Add(x, x, y) }); err == nil {
		t.Error("Add of 256 and 100 columns accepted")
	}
	if err := b.Run(ctx, []int32{1, 5000}, 0, func(o engine.Ops) {}); err == nil {
		t.Error("id outside the vocabulary accepted")
	}
	if err := b.Run(ctx, []int32{1}, small.Context, func(o engine.Ops) {}); err == nil {
		t.Error("position past the context accepted")
	}
	qw, err := gptqtest.Quantize("bad", make([]float32, 64*64), 64, 64, gptqtest.PackOptions{Bits: 4, GroupSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	qw.QWeight = qw.QWeight[:len(qw.QWeight)-4]
	if _, err := b.LoadQuant(ctx, qw); err == nil {
		t.Error("truncated qweight accepted")
	}
	// 300 rows of 1024 inputs overflow the float16 prompt input sized for 768.
	qw, err = gptqtest.Quantize("wide", make([]float32, 1024*64), 1024, 64, gptqtest.PackOptions{Bits: 4, GroupSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.LoadQuant(ctx, qw)
	if err != nil {
		t.Fatal(err)
	}
	xw, _ := b.NewActivation(ctx, 300, 1024)
	yw, _ := b.NewActivation(ctx, 300, 64)
	if err := b.Run(ctx, make([]int32, 300), 0, func(o engine.Ops) { o.MatMul(yw, xw, w) }); err == nil {
		t.Error("a prompt product larger than the float16 input buffer accepted")
	} else {
		t.Log(err)
	}
}

// TestWrFor checks gptq_wr's choice of tile height: 256 rows where its tiles are full
// or nearly (1,920: 7.5 tiles of 256 cost less than 10 of 192), the shorter builds
// where 256-row tiles would leave much of the last empty (384 rows: two of 192; 100:
// one of 128), and wrRowsForce over the choice.
func TestWrFor(t *testing.T) {
	for rows, want := range map[int]int{256: 256, 512: 256, 1920: 256, 2048: 256, 600: 256, 384: 192, 192: 192, 100: 128, 128: 128, 1: 128} {
		if got := wrFor(rows).rows; got != want {
			t.Errorf("wrFor(%d): tiles of %d rows, want %d", rows, got, want)
		}
	}
	defer func(r int) { wrRowsForce = r }(wrRowsForce)
	wrRowsForce = 128
	if k := wrFor(512); k != wrBuilds[2] {
		t.Errorf("wrFor(512) with wrRowsForce 128: %+v", k)
	}
}
