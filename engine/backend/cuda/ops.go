//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// ops issues the operations of one Run on the context's thread. A failure is kept in
// Backend.err (the first one wins) and the rest of the step is skipped.
type ops struct{ b *Backend }

var _ engine.Ops = ops{}

func (o ops) fail(err error) {
	if o.b.err == nil {
		o.b.err = err
	}
}

// args converts the operands to tensors of the wanted kinds, checking that each holds
// the batch's rows.
func (o ops) args(op string, ts ...engine.Tensor) ([]*tensor, bool) {
	if o.b.err != nil {
		return nil, false
	}
	out := make([]*tensor, len(ts))
	for i, x := range ts {
		t, ok := x.(*tensor)
		if !ok {
			o.fail(fmt.Errorf("cuda: %s: operand %d is a %T, not a tensor of this backend", op, i, x))
			return nil, false
		}
		if t.kind == activation && t.rows < o.b.rows {
			o.fail(fmt.Errorf("cuda: %s: operand %d has %d rows for a batch of %d", op, i, t.rows, o.b.rows))
			return nil, false
		}
		out[i] = t
	}
	return out, true
}

// launch records a kernel launch in the Run's program.
func (o ops) launch(name string, grid [3]int, block, shared int, args ...any) {
	if err := o.b.prog.launch(o.b.dev, name, grid, block, shared, args...); err != nil {
		o.fail(err)
	}
}

// launchEarly records a launch that may begin before the kernel ahead of it has
// finished (program.launchEarly), for kernels that wait for it themselves.
func (o ops) launchEarly(name string, grid [3]int, block, shared int, args ...any) {
	if err := o.b.prog.launchEarly(o.b.dev, name, grid, block, shared, args...); err != nil {
		o.fail(err)
	}
}

func (o ops) same(op string, ts ...*tensor) bool {
	for _, t := range ts[1:] {
		if t.cols != ts[0].cols || t.kind != activation || ts[0].kind != activation {
			o.fail(fmt.Errorf("cuda: %s: operands of %d and %d columns (activations only)", op, ts[0].cols, t.cols))
			return false
		}
	}
	return true
}

func (o ops) Embed(dst, table engine.Tensor) {
	o.flush()
	t, ok := o.args("Embed", dst, table)
	if !ok {
		return
	}
	if t[1].kind != dense || t[1].cols != t[0].cols || t[1].rows != o.b.shape.Vocab {
		o.fail(fmt.Errorf("cuda: Embed: table %d×%d for %d columns and a vocabulary of %d", t[1].rows, t[1].cols, t[0].cols, o.b.shape.Vocab))
		return
	}
	o.launch("embed", [3]int{o.b.rows, 1, 1}, 256, 0, o.b.ids, t[1].p, t[0].p, t[0].cols)
}

func (o ops) RMSNorm(dst, x, weight engine.Tensor, eps float32) {
	o.flush()
	t, ok := o.args("RMSNorm", dst, x, weight)
	if !ok || !o.same("RMSNorm", t[0], t[1]) {
		return
	}
	if t[2].kind != dense || t[2].rows*t[2].cols != t[1].cols {
		o.fail(fmt.Errorf("cuda: RMSNorm: weight %d×%d for %d columns", t[2].rows, t[2].cols, t[1].cols))
		return
	}
	o.launch("rmsnorm", [3]int{o.b.rows, 1, 1}, 512, 0, t[1].p, t[2].p, t[0].p, t[1].cols, eps)
}

// splitK picks how many K ranges the decode product splits into, and the 32-row
// chunks per range, so that about four blocks per multiprocessor are in flight. With
// perSM set, the grid stays within perSM blocks per multiprocessor, all resident at
// once (gptq_mv4 fits five, and one more block on some multiprocessors would be a
// second wave as long as the first).
func (o ops) splitK(chunks, colBlocks, perSM int) (splits, per int) {
	splits = ceil(4*o.b.dev.sms, colBlocks)
	if perSM > 0 {
		splits = perSM * o.b.dev.sms / colBlocks
	}
	splits = max(1, min(chunks, splits))
	per = ceil(chunks, splits)
	return ceil(chunks, per), per
}

// mvPerSM is the blocks of gptq_mv4 that one multiprocessor holds (shared memory: its
// ring of four chunks takes 38 KB; TestMatVecOccupancy), mvSharedMax what is left of
// the 48 KB a block may use beside it.
const (
	mvPerSM     = 5
	mvSharedMax = 48<<10 - 38928
)

// mvShared is the dynamic shared memory of a gptq_mv4 block for per chunks (16 input
// pairs and a group index each).
func mvShared(per int) int { return per * 17 * 4 }

// mvBlocks bounds the column blocks of a split decode product (a split launch has at
// most six blocks per multiprocessor, at least two splits each), and mvPartFloats
// the partial sums its splits store: for a batch (gptq_mvN_rR) each block's R rows,
// at most mvRowsPerSM blocks per multiprocessor, and those of gptq_tcN_mR
// (flushTC keeps its splits within both).
func mvBlocks(sms int) int     { return 6 * sms }
func mvPartFloats(sms int) int { return max(6*sms*mvCols, mvRowsPerSM(16)*sms*mvCols*16, tcPartFloats) }

// tcPartFloats is what gptq_tcN_mR's splits may store (32 MB: 65B's gate and up at 32
// rows in three ranges take 4.2 M).
const tcPartFloats = 8 << 20

// mvRowsMax is the most rows a decode product runs on the decode kernels
// (gptq_tcN_mR, or gptq_mvN_rR below tcRowsMin rows and for small batches of
// unpermuted weights); more take the prompt kernels (promptKernels: 128- or 256-row tiles).
const mvRowsMax = 64

// tcRowsMin is the fewest rows a decode product runs on the tensor-core kernels
// gptq_tcN_mR; tests and benchmarks raise it past mvRowsMax to run gptq_mvN_rR
// instead.
var tcRowsMin = 2

// mvR4Rows is the most rows that gptq_mvN_r4 takes instead of gptq_tcN_m16 when the
// weights' rows were never permuted (tests clear it to run gptq_tcN_m16). Measured on
// the H200 with 65B weights (BENCHMARKS.md, "Tensor-core launch shapes", run 9): the
// 80 layers' linears take 15.7 / 17.9 / 20.5 ms at 2 / 3 / 4 rows on gptq_mv4_r4
// against 18.2 / 18.5 / 18.6 on gptq_tc4_m16 split for whole waves. Act-order weights
// take the tensor cores at every row count (at 4 rows 21.2 ms against 24.7 on
// gptq_mv4_r4, which must gather its input: run A of "Tensor-core decode batches")
// unless their products are too small to fill the device there (tcFills).
// Against the raw build ("Raw-operand decode batches", run 14) gptq_mv4_r4 still wins
// at 2 rows (15.1 ms against 16.6; 3 bits in groups of 128: 15.8 against 18.8) and is
// within 4% at 3 (17.6 against 17.0; 18.1 against 18.9).
var mvR4Rows = 3

// tcChunks is the most 32-row chunks of one split of gptq_tcN_mR (the groups' shared
// array).
const tcChunks = 1024

// tcKernel is one build of the tensor-core decode kernel, gptq_tcN_mR_pPwW[dD][r]
// (kernels/gptq.cu, TCB and TCRB): rows the most rows it takes (16, 32 or 64), warps
// the warps of a block (32 columns each), pf the four-chunk blocks of weights each
// lane holds in flight in registers, pd how many more it asks of L2 ahead of those
// (prefetch; 0 for none), perSM the blocks one multiprocessor holds (the kernel's
// __launch_bounds__; TestTCOccupancy); raw for the builds that take LOP3's results
// as B operands and apply zeros and scales per group (gptq_tcN_m16_p1w4r, input from
// gather_xtN), which run weights whose four-chunk blocks each have one group (others
// run on the plain build of their rows: plain).
type tcKernel struct {
	rows, warps, pf, pd, perSM int
	raw                        bool
}

func (k tcKernel) name(bits int) string {
	n := fmt.Sprintf("gptq_tc%d_m%d_p%dw%d", bits, k.rows, k.pf, k.warps)
	if k.pd > 0 {
		n += fmt.Sprintf("d%d", k.pd)
	}
	if k.raw {
		n += "r"
	}
	return n
}

// String is the name without the bits, as benchmarks and tests label it.
func (k tcKernel) String() string { return k.name(0)[len("gptq_tc0_"):] }

func (k tcKernel) cols() int { return 32 * k.warps }

// plain is the build without raw operands that runs k's batches of weights whose
// four-chunk blocks do not each have one group: k itself when it is not raw, else
// the first plain build of its rows in tcKernels.
func (k tcKernel) plain() tcKernel {
	if !k.raw {
		return k
	}
	for _, p := range tcKernels {
		if !p.raw && p.rows == k.rows {
			return p
		}
	}
	panic("cuda: no plain tensor-core build of " + k.String())
}

// tcKernels lists the builds of gptq_tcN_mR for N = 3 and 4, in TCB's then TCRB's
// order.
var tcKernels = []tcKernel{{16, 8, 1, 0, 2, false}, {32, 8, 1, 0, 2, false}, {64, 8, 1, 0, 1, false}, {16, 4, 1, 0, 4, true}}

// Split policies of tcConfig (a positive split is that many K ranges, as far as
// whole multiples of four chunks allow).
const (
	tcSplitFill  = 0  // as many ranges as fill the device's block places once
	tcSplitWaves = -1 // the count that minimizes waves × (range + overhead): tcConfig.splits
)

// tcConfig is how a decode batch runs on the tensor cores: the kernel and how K is
// split.
type tcConfig struct {
	k     tcKernel
	split int
}

func (c tcConfig) String() string {
	switch c.split {
	case tcSplitFill:
		return c.k.String() + "/fill"
	case tcSplitWaves:
		return c.k.String() + "/waves"
	}
	return fmt.Sprintf("%s/split%d", c.k, c.split)
}

// tcDefaults is the configuration of a decode batch of up to rows rows, the first
// band that holds it, as BenchmarkTCSweep measured on the H200 (BENCHMARKS.md,
// "Tensor-core launch shapes", "Decode batches against the weights' stream" and
// "Raw-operand decode batches"): K split for whole waves (at 16 rows 20.3 ms for
// 65B's linears against 23.3 split to fill the device once; 4 rows 18.8 against 22.4;
// 32 rows 28.5 against 32.5; 64 rows 49.6 against 52.4 for 4 bits without groups,
// 51.2 against 51.4 for 3 bits in groups of 128); up to 16 rows on the raw build
// gptq_tcN_m16_p1w4r ("Barrier-free raw decode batches": 17.82 ms at 16 rows against
// 19.78 on the raw build with block barriers it replaced and 19.99 on
// gptq_tc4_m16_p1w8, 4 bits without groups; 18.62 against 21.03 and 19.84, 3 bits in
// groups of 128; weights in groups of 32 or 64 run the plain build), 32 and 64 rows
// on the plain ones.
var tcDefaults = []struct {
	rows int
	c    tcConfig
}{
	{4, tcConfig{tcKernels[3], tcSplitWaves}},
	{16, tcConfig{tcKernels[3], tcSplitWaves}},
	{32, tcConfig{tcKernels[1], tcSplitWaves}},
	{64, tcConfig{tcKernels[2], tcSplitWaves}},
}

// tcFor is the configuration of a decode batch of rows rows (tcDefaults; rows is at
// most mvRowsMax).
func tcFor(rows int) tcConfig {
	for _, d := range tcDefaults {
		if rows <= d.rows {
			return d.c
		}
	}
	return tcDefaults[len(tcDefaults)-1].c
}

// splits is the number of K ranges of quads four-chunk blocks for colBlocks column
// blocks of rows rows into partN columns, within partCap partial sums: by c's policy,
// then at least enough that no range has over tcChunks chunks. Under tcSplitWaves,
// the count s minimizing ceil(colBlocks·s / places) × (ceil(quads/s) + overhead),
// overhead one four-chunk block for a range's start plus, when split, the partial
// sums each block writes and the last reads, in four-chunk blocks of its weights
// (rows·8 bytes a column against 16·bits): it fills the last wave without making
// ranges short.
func (c tcConfig) splits(quads, colBlocks, places, rows, partN, partCap, bits int) int {
	capS := max(1, partCap/(rows*partN))
	s := 1
	switch {
	case c.split > 0:
		s = c.split
	case c.split == tcSplitFill:
		s = places / colBlocks
	default:
		best := math.Inf(1)
		for n := 1; n <= min(quads, capS, 64); n++ {
			per := ceil(quads, n)
			m := ceil(quads, per) // the ranges n gives, whole
			cost := 1 + float64(per)
			if m > 1 {
				cost += float64(rows) / float64(2*bits)
			}
			if cost *= float64(ceil(colBlocks*m, places)); cost < best {
				best, s = cost, m
			}
		}
	}
	return max(1, min(quads, s, capS), ceil(quads, tcChunks/4))
}

// mvRowsSharedMax is the dynamic shared memory (the chunks' groups) a gptq_mvN_rR
// block may use beside the largest static ring (gptq_mv4_r16: 43024 bytes).
const mvRowsSharedMax = 48<<10 - 43024

// mvRowsPerSM is the blocks of gptq_mvN_rR one multiprocessor holds (their
// __launch_bounds__: registers allow four blocks of 4 rows, three of 16).
func mvRowsPerSM(r int) int {
	if r == 4 {
		return 4
	}
	return 3
}

// flushRows launches the pending decode products of a batch of 2..mvRowsMax rows, on
// the tensor-core kernels (flushTC) from tcRowsMin rows unless the batch has at most
// mvR4Rows rows and the weights were never permuted or are too small for the tensor
// cores to fill the device (tcFills); otherwise gather_xN puts the
// input in float16 in unpacking order (through the weights' one permutation), then
// gptq_mvN_r4 (up to 4 rows) or gptq_mvN_r16 (row groups of 16)
// reads each chunk of weights once for a block's rows, the row groups of a column
// block running together so that the weights come from device memory once.
func (o ops) flushRows(args []any, colBlocks int, res, rdst cu.DevicePtr) {
	p, rows := &o.b.pend, o.b.rows
	w0 := p.ws[0]
	K, bits := w0.rows, w0.q.bits
	if int64(rows)*int64(K)*2 > xhBytes(o.b.shape) {
		o.fail(fmt.Errorf("cuda: MatMul: %d rows of %d inputs exceed the float16 input buffer (%d bytes)", rows, K, xhBytes(o.b.shape)))
		return
	}
	if rows >= tcRowsMin && (rows > mvR4Rows || (w0.q.perm != 0 && (tcUnderfill || o.tcFills(rows, K)))) {
		o.flushTC(args, res, rdst)
		return
	}
	r := 16
	if rows <= 4 {
		r = 4
	}
	groups := ceil(rows, r)
	splits, per := o.splitK(K/32, colBlocks*groups, mvRowsPerSM(r))
	if per*4 > mvRowsSharedMax {
		o.fail(fmt.Errorf("cuda: MatMul: %d-bit product of %d rows of %d inputs needs %d bytes of shared memory per block, over %d", bits, rows, K, per*4, mvRowsSharedMax))
		return
	}
	o.launch(fmt.Sprintf("gather_x%d", bits), [3]int{ceil(K/2, 256), rows, 1}, 256, 0, p.x.p, w0.q.perm, o.b.xh, K)
	args = append(args, o.b.xh, rows, res, rdst, o.b.mvPart, o.b.mvCount, K, per, w0.q.zeroOffset)
	o.launch(fmt.Sprintf("gptq_mv%d_r%d", bits, r), [3]int{colBlocks * groups, splits, 1}, 128, per*4, args...)
}

// tcFills reports whether the pending products of rows rows of K inputs give
// the tensor-core kernels at least a block per multiprocessor when K is split
// as far as it goes (a four-chunk block a range). Act-order products smaller
// than that (rewoo-tiny's: hidden 256, 2 to 12 blocks) take gptq_mvN_r4 at up
// to mvR4Rows rows, as unpermuted ones do: a speculative step's 2 or 3 rows.
// BenchmarkVerifyStep on the H200 (BENCHMARKS.md, "Speculative decoding"), the
// 8 layers' linears at 2 / 3 rows: 570 / 628 µs a step on gptq_mv4_r4 against
// 647 / 649 on the tensor cores (326 at one row); at 5 and 9 rows gptq_mv4_r16
// took 890 and 1107 against 676 and 638, so those stay on the tensor cores.
func (o ops) tcFills(rows, K int) bool {
	p := &o.b.pend
	cols := tcFor(rows).k.cols()
	blocks := 0
	for _, w := range p.ws[:p.n] {
		blocks += ceil(w.cols, cols)
	}
	return blocks*ceil(K/32, 4) >= o.b.dev.sms
}

// tcUnderfill, set by tests, runs act-order decode batches on the tensor cores
// even where tcFills says they would not fill the device.
var tcUnderfill = false

// flushTC launches the pending decode products of a batch on gptq_tcN_mR: gather_xN
// as for gptq_mvN_rR (gather_xtN for the raw builds, when every weight of the launch
// has one group per four-chunk block; otherwise the build of the same shape without
// raw), then one block per column block of the kernel and K range, the ranges whole
// multiples of four chunks (tcFor's kernel and split policy; tcForce, when set,
// instead).
func (o ops) flushTC(args []any, res, rdst cu.DevicePtr) {
	p, rows := &o.b.pend, o.b.rows
	w0 := p.ws[0]
	K, bits := w0.rows, w0.q.bits
	c := tcFor(rows)
	if tcForce != nil {
		c = *tcForce
	}
	k := c.k
	for _, w := range p.ws[:p.n] {
		if !w.q.quadGroups {
			k = k.plain()
		}
	}
	if rows > k.rows {
		o.fail(fmt.Errorf("cuda: MatMul: a batch of %d rows on %s, which takes %d", rows, k.name(bits), k.rows))
		return
	}
	colBlocks, partN := 0, 0
	for _, w := range p.ws[:p.n] {
		colBlocks += ceil(w.cols, k.cols())
		partN += w.cols
	}
	quads, sms := ceil(K/32, 4), o.b.dev.sms
	splits := c.splits(quads, colBlocks, k.perSM*sms, rows, partN, mvPartFloats(sms), bits)
	per := 4 * ceil(quads, splits)
	splits = ceil(K/32, per)
	if per > tcChunks || (splits > 1 && (splits*rows*partN > mvPartFloats(sms) || colBlocks > mvBlocks(sms))) {
		o.fail(fmt.Errorf("cuda: MatMul: %d-bit product of %d rows of %d inputs into %d columns needs %d splits of %d chunks, over what %s holds", bits, rows, K, partN, splits, per, k.name(bits)))
		return
	}
	if k.raw {
		if int64(xtInputs(K))*mvRowsMax*2 > xtBytes(o.b.shape) {
			o.fail(fmt.Errorf("cuda: MatMul: %d inputs exceed the decode batch input buffer (%d bytes)", K, xtBytes(o.b.shape)))
			return
		}
		o.launch(fmt.Sprintf("gather_xt%d", bits), [3]int{ceil(K/2, 256), 16 * ceil(rows, 16), 1}, 256, 0, p.x.p, w0.q.perm, o.b.xt, o.b.xtSums, K, rows)
		args = append(args, o.b.xt, o.b.xtSums, rows, res, rdst, o.b.mvPart, o.b.mvCount, K, per, w0.q.zeroOffset)
	} else {
		o.launch(fmt.Sprintf("gather_x%d", bits), [3]int{ceil(K/2, 256), rows, 1}, 256, 0, p.x.p, w0.q.perm, o.b.xh, K)
		args = append(args, o.b.xh, rows, res, rdst, o.b.mvPart, o.b.mvCount, K, per, w0.q.zeroOffset)
	}
	o.launch(k.name(bits), [3]int{colBlocks, splits, 1}, k.cols(), 0, args...)
}

// tcForce, when set, is the configuration of every decode batch on the tensor cores
// (tests and benchmarks try each).
var tcForce *tcConfig

// mvCols is the columns one block of gptq_mv4 (and of the batch kernels gptq_mvN_rR)
// computes.
const mvCols = 512

// mmKernel is the shape of a prompt kernel (kind): gptq_mmN (kernels/gptq.cu, mm:
// warps of 64×64 on mma.sync), gptq_wsN or gptq_wrN (kernels/hopper.cu, ws and wr:
// warp-specialized on wgmma, sm_90a only; gptq_wrN with the weights dequantized into
// registers), or gemm_ws (hopper.cu: long steps, the weight dequantized to float16
// once by dequant_tN, then a float16 product; longBuild). Tiles of rows×cols of Y
// and a ring of stages 64-row steps of K in dynamic shared memory; perSM is the
// blocks one multiprocessor holds (its __launch_bounds__, registers and shared
// memory; TestMMOccupancy).
type mmKernel struct {
	kind                      string // "gptq_mm", "gptq_ws", "gptq_wr" or "gemm_ws"
	rows, cols, stages, perSM int
}

func (k mmKernel) threads() int {
	if k.kind == "gptq_mm" {
		return k.rows * k.cols / 128
	}
	return 384 // a producer warpgroup and two consumers
}

// name is the kernel for bits-bit weights (gptq_wr's shorter tiles: gptq_wrB_rR),
// gather the kernel that writes its input.
func (k mmKernel) name(bits int) string {
	if k.kind == longBuild.kind {
		return k.kind
	}
	if k.kind == wrBuild.kind && k.rows != wrBuild.rows {
		return fmt.Sprintf("%s%d_r%d", k.kind, bits, k.rows)
	}
	return fmt.Sprintf("%s%d", k.kind, bits)
}

// With staged set it is the gather through a permutation one row a block
// (gather_xp3, gather_xp4, gather_xrp4: gather_staged in kernels/unpack.cuh).
// gptq_wr3 and gptq_wr4 take their input in one order (xrPair), gather_xr4's;
// gemm_ws in gather_xlN's tiles.
func (k mmKernel) gather(bits int, staged bool) string {
	p := ""
	if staged {
		p = "p"
	}
	switch k.kind {
	case "gptq_wr":
		return "gather_xr" + p + "4"
	case longBuild.kind:
		return fmt.Sprintf("gather_xl%s%d", p, bits) // the tiles gemm_ws copies whole
	}
	return fmt.Sprintf("gather_x%s%d", p, bits)
}

// stagedGather selects the staged gathers for inputs through a permutation whose row
// fits in stagedRowMax bytes of shared memory as float16, and reuseGather the skipping
// of a gather the float16 buffer already holds (gatherInput); tests clear the first
// to run the other gathers on permutations too, benchmarks both to time what they
// save.
var stagedGather, reuseGather = true, true

const stagedRowMax = 48 << 10

// gatherInput records the gather of a prompt product's input x (rows × K) into the
// float16 buffer for kernel k, unless the buffer already holds it: the product just
// before read the same input through the same permutation and nothing else came
// between (q, k and v of one layer; gate and up), as act-order checkpoints have it
// since the layers of one input share their permutation (LoadQuant).
func (o ops) gatherInput(k mmKernel, bits int, x, perm cu.DevicePtr, rows, K int) xhGather {
	staged := stagedGather && perm != 0 && 2*K <= stagedRowMax
	g := xhGather{kernel: k.gather(bits, staged), x: x, perm: perm, rows: rows, K: K}
	switch {
	case reuseGather && o.b.prog.holds(g):
	case staged:
		o.launch(g.kernel, [3]int{1, rows, 1}, 1024, 2*K, x, perm, o.b.xh, K)
	default:
		o.launch(g.kernel, [3]int{ceil(K/2, 256), rows, 1}, 256, 0, x, perm, o.b.xh, K)
	}
	return g
}

// shared is the dynamic shared memory of a block of bits-bit weights for per chunks
// (kernels/gptq.cu's mmLayout, hopper.cu's wsLayout and wrLayout), with the chunks'
// groups (4*per): per stage the input (gptq_mm: 72 halves a row; gptq_ws and gptq_wr:
// 64, the stages padded to 1 KB, and 1 KB more to align them), the packed words
// (gptq_wr: rows of cols+8 words), scales and zero words of two chunks (gptq_wr: and
// a flag each); dequantized tiles besides, two for gptq_mm and three for gptq_ws.
func (k mmKernel) shared(bits, per int) int {
	zeros := k.cols // two chunks' zero words: 4 bits, cols/8 words each
	if bits == 3 {
		zeros = 3 * k.cols / 4
	}
	weights := 8*bits*k.cols + 4*k.cols + zeros
	switch k.kind {
	case "gptq_ws":
		return k.stages*ceil(k.rows*128+weights, 1024)*1024 + 3*k.cols*128 + 4*per + 1024
	case "gptq_wr":
		return k.stages*ceil(k.rows*128+8*bits*(k.cols+8)+4*k.cols+zeros+8, 1024)*1024 + 4*per + 1024
	case longBuild.kind:
		return k.stages*(k.rows+k.cols)*128 + 8*k.stages + 1024 // and a stage's mbarrier
	}
	return k.stages*(k.rows*144+weights) + 2*k.cols*144 + 4*per
}

// mmBuild is gptq_mm3/gptq_mm4's shape: 128×256 tiles, four stages (188 KB of shared
// memory at 4 bits), one block per multiprocessor. BenchmarkPrompt on the H200
// (BENCHMARKS.md, "CUDA speed work, round 5") found it the fastest of the shapes tried.
var mmBuild = mmKernel{kind: "gptq_mm", rows: 128, cols: 256, stages: 4, perSM: 1}

// wsBuild is gptq_ws3/gptq_ws4's: the same tiles, four stages and three dequantized
// tiles (204 KB of shared memory at 4 bits), one block of 384 threads per
// multiprocessor. On the H200 it was 24-37% faster than gptq_mm (BENCHMARKS.md,
// "Warp-specialized prompt products on wgmma").
var wsBuild = mmKernel{kind: "gptq_ws", rows: 128, cols: 256, stages: 4, perSM: 1}

// wrBuild is gptq_wr3/gptq_wr4's: 256 rows by 128 columns, five stages (189 KB of
// shared memory at 4 bits), one block of 384 threads per multiprocessor.
var wrBuild = mmKernel{kind: "gptq_wr", rows: 256, cols: 128, stages: 5, perSM: 1}

// wrBuilds are gptq_wr's tile heights, the tallest first: wrBuild, then gptq_wrB_r192
// and gptq_wrB_r128 (wgmma.m64n192k16 and m64n128k16), for row counts that 256-row
// tiles would leave partly empty: a 1,920-token prompt in steps of 512 ends with 384
// rows, two tiles of 256 half empty or two of 192 full.
var wrBuilds = []mmKernel{wrBuild, {kind: "gptq_wr", rows: 192, cols: 128, stages: 5, perSM: 1},
	{kind: "gptq_wr", rows: 128, cols: 128, stages: 5, perSM: 1}}

// longBuild is gemm_ws's: gptq_ws's tiles (128×256), four stages of the input and
// float16 weight tiles (193 KB of shared memory), one block of 384 threads per
// multiprocessor. Prompt steps of longRowsMin rows or more take it where the sm_90a
// modules are loaded: a product dequantizes its weight once (dequant_tN, into the
// backend's longW) instead of once a tile of rows as gptq_wr does, which pays only
// where the rows are many (BENCHMARKS.md, "Long prompt steps").
var longBuild = mmKernel{kind: "gemm_ws", rows: 128, cols: 256, stages: 4, perSM: 1}

// dequantCols and dequantChunks are the columns and 32-row chunks of a block of
// dequant_tN (kernels/hopper.cu's DQ_COLS, DQ_CHUNKS).
const dequantCols, dequantChunks = 64, 8

// longRowsMin is the fewest rows of a prompt step that runs its products on
// longBuild; backends reserved with a smaller MaxBatch hold no longW. Tests and
// benchmarks lower it before opening a backend.
var longRowsMin = 1024

// wrTileFixed is the rows' worth of work a gptq_wr tile costs beside its rows, in
// wrFor's choice: its consumers dequantize the same weights whatever its height.
// BenchmarkPrompt on the H200 (BENCHMARKS.md, "gptq_wr's tile heights"): 65B's q at
// 384, 512 and 1,920 rows took 74-75, 62-64 and 50-52 µs a row of tiles of 256, 192 and
// 128 rows, about 0.18 µs a row plus 28 (156 rows' worth).
const wrTileFixed = 160

// wrRowsForce, when set, is the tile height of gptq_wr's products (tests and
// benchmarks try each).
var wrRowsForce int

// wrFor is the gptq_wr build for a product of rows rows: the one whose tiles cost the
// least, ceil(rows/R)·(R+wrTileFixed) for tiles of R rows, the taller on a tie.
func wrFor(rows int) mmKernel {
	best, cost := wrBuild, 0
	for _, k := range wrBuilds {
		if wrRowsForce > 0 {
			if k.rows == wrRowsForce {
				return k
			}
			continue
		}
		if c := ceil(rows, k.rows) * (k.rows + wrTileFixed); cost == 0 || c < cost {
			best, cost = k, c
		}
	}
	return best
}

// promptForce, when set, is the kind of kernel 3- and 4-bit prompt products run on
// where the device has it for their bits (tests and benchmarks try each).
var promptForce string

// promptKernels are the kernels this device runs bits-bit prompt products on, the
// fastest first: on compute capability 9.0 (the sm_90a modules loaded) gptq_wr, then
// gptq_ws; gptq_mm everywhere.
//
// Long steps (longBuild) are not among them: mmPlan takes it for a step's row count
// where the backend holds longW, unless promptForce names another kind.
func (o ops) promptKernels(bits int) []mmKernel {
	if !o.b.dev.hopper {
		return []mmKernel{mmBuild}
	}
	return []mmKernel{wrBuild, wsBuild, mmBuild}
}

// long reports whether a prompt product of rows×K by K×N runs on longBuild: on
// longRowsMin rows or more (promptForce "gemm_ws": any) where the backend holds a
// float16 weight buffer as large as the product's weight and no other kind is forced.
func (o ops) long(rows, K, N int) bool {
	if o.b.longW == 0 || tiledBytes(N, 256, K) > longWBytes(o.b.shape, o.b.dev.hopper) {
		return false
	}
	return promptForce == longBuild.kind || promptForce == "" && rows >= longRowsMin
}

// promptKernel is the kernel bits-bit prompt products run on.
func (o ops) promptKernel(bits int) mmKernel {
	ks := o.promptKernels(bits)
	for _, k := range ks {
		if k.kind == promptForce {
			return k
		}
	}
	return ks[0]
}

// mmPlan is how a bits-bit prompt product of rows×K by K×N runs (mmLaunch: on
// longBuild for long steps, else on gptq_wr at the tile height wrFor picks); ok
// false when a block does not fit the device's shared memory (the generic kernel
// then runs it).
func (o ops) mmPlan(rows, K, N, bits int) (p mmLaunch, ok bool) {
	k := o.promptKernel(bits)
	switch {
	case o.long(rows, K, N):
		k = longBuild
	case k.kind == wrBuild.kind:
		k = wrFor(rows)
	}
	p.k = k
	tiles := [2]int{ceil(rows, k.rows), ceil(N, k.cols)}
	// Streamed: the Hopper kernels, one block (and fix-up slot) a multiprocessor.
	if g := streamBlocks(tiles[0]*tiles[1], k.perSM*o.b.dev.sms); g > 0 && k.kind != "gptq_mm" && k.perSM == 1 {
		p.grid, p.streamed = [3]int{g, 1, 1}, 1
		p.shared = k.shared(bits, K/32) // a block's piece of a tile may be all of K
	} else {
		splits := mmSplits(tiles[0]*tiles[1], k.perSM*o.b.dev.sms, K/32)
		p.per = ceil(K/32, splits)
		if k == longBuild { // ranges of whole steps of gemm_ws's tiles
			p.per = 2 * ceil(K/32, 2*splits)
		}
		p.grid = [3]int{tiles[0], tiles[1], ceil(K/32, p.per)}
		p.shared = k.shared(bits, p.per)
	}
	return p, p.shared <= o.b.dev.sharedMax
}

// mmLaunch is a prompt product's launch: kernel k on grid with shared bytes of
// dynamic shared memory, each block a tile and a range of per chunks of K (grid: row
// tiles, column tiles, ranges), or, with streamed 1, the tiles shared among grid[0]
// blocks (the Hopper kernels' Stream-K: kernels/hopper.cu, ws_piece).
type mmLaunch struct {
	k                     mmKernel
	grid                  [3]int
	per, streamed, shared int
}

// mmFixFloats is the fix-up slots of streamed prompt products: one a block (a
// multiprocessor's) where the Hopper kernels are loaded, of 128 sums for each of a
// gptq_ws or gptq_wr4 block's 256 consumer threads; none elsewhere (a single float, so the
// buffer exists).
func mmFixFloats(d *device) int {
	if !d.hopper {
		return 1
	}
	return d.sms * 128 * 256
}

// streamAt, when above 0, is the blocks streamed prompt products share their work
// among (tests set it to stream small products), instead of the device's places, at
// most as many; -1 streams none (tests and benchmarks compare).
var streamAt = 0

// streamBlocks is how many blocks a prompt product of tiles tiles streams over on a
// device with places resident blocks, 0 when it runs a tile a block: it streams when
// there are at least as many tiles as places (so no tile is cut in more than two, and
// a block's range always covers a whole tile's steps), but not a whole number of
// waves of them. 344 tiles of gate at 512 rows on 132 places take three waves tile by
// tile, the last 61% full; streamed, one wave tile by tile, then the steps of the
// other 212 tiles shared evenly.
func streamBlocks(tiles, places int) int {
	switch {
	case streamAt < 0:
		return 0
	case streamAt > 0:
		places = min(streamAt, places) // the fix-up slots are the device's places
	}
	if tiles < places || tiles%places == 0 {
		return 0
	}
	return places
}

// mmSplits is 2 when splitting K in two makes a prompt product of tiles blocks take
// fewer waves of resident blocks (cap at a time) per unit of work, else 1: a 256-row
// product of 8192 columns has 64 tiles of 128×256 for 132 places, half the device
// idle unsplit. More splits would make the sums depend on the order the blocks
// finish in.
func mmSplits(tiles, cap, chunks int) int {
	if chunks >= 2 && ceil(2*tiles, cap) < 2*ceil(tiles, cap) {
		return 2
	}
	return 1
}

// fastGemm selects gather_xN and gptq_mmN for 3- and 4-bit prompt products; benchmarks
// and tests clear it to run the generic gptq_gemm_N.
var fastGemm = true

// fastMatvec selects the fast kernels for 3- and 4-bit decode products (at one row
// gptq_mvq3 and gptq_mv4); benchmarks and tests clear it to run the generic
// gptq_matvec_N.
var fastMatvec = true

// pendingMV holds decode products on fast kernels that are recorded but not yet
// launched: consecutive products of the same input (q, k, v; gate, up) become one
// launch, and a product followed by the residual Add of its output takes the add into
// its epilogue. Every other operation, and the end of the step, launches them first.
type pendingMV struct {
	n         int
	x         *tensor
	ws, ys    [3]*tensor
	res, rdst *tensor // the fused Add: rdst = res + ys[0]
}

// queue adds y = x·w to the pending decode products, launching those pending first
// when w cannot join them.
func (o ops) queue(y, x, w *tensor) {
	p := &o.b.pend
	if p.n > 0 {
		w0 := p.ws[0]
		// A batch's input is gathered once for the launch, through one permutation.
		fits := p.n < len(p.ws) && p.x == x && w0.q.bits == w.q.bits && w0.q.zeroOffset == w.q.zeroOffset &&
			(o.b.rows == 1 || w0.q.perm == w.q.perm)
		for _, py := range p.ys[:p.n] {
			fits = fits && py != y
		}
		if !fits {
			o.flush()
		}
	}
	p.x, p.ws[p.n], p.ys[p.n] = x, w, y
	p.n++
}

// flush launches the pending RoPE operations, then the pending decode products.
func (o ops) flush() {
	o.flushRoPE()
	o.flushProducts()
}

// flushProducts launches the pending decode products as one launch: at one row
// gptq_mvq3 for 3 bits (flushQuad), gptq_mv4 for 4.
func (o ops) flushProducts() {
	p := &o.b.pend
	if p.n == 0 {
		return
	}
	defer func() { *p = pendingMV{} }()
	w0 := p.ws[0]
	K, bits := w0.rows, w0.q.bits
	colBlocks := 0
	args := make([]any, 0, 32)
	for i := range p.ws {
		if i >= p.n {
			args = append(args, cu.DevicePtr(0), cu.DevicePtr(0), cu.DevicePtr(0), cu.DevicePtr(0), cu.DevicePtr(0), cu.DevicePtr(0), 0)
			continue
		}
		w, q := p.ws[i], p.ws[i].q
		colBlocks += ceil(w.cols, mvCols)
		args = append(args, w.p, q.qzeros, q.scales, q.cgroup, q.perm, p.ys[i].p, w.cols)
	}
	var res, rdst cu.DevicePtr
	if p.res != nil {
		res, rdst = p.res.p, p.rdst.p
	}
	if rows := o.b.rows; rows > 1 {
		o.flushRows(args, colBlocks, res, rdst)
		return
	}
	if bits == 3 {
		o.flushQuad(args, K, res, rdst, w0.q.zeroOffset)
		return
	}
	splits, per := o.splitK(K/32, colBlocks, mvPerSM)
	if mvShared(per) > mvSharedMax {
		o.fail(fmt.Errorf("cuda: MatMul: %d-bit decode product of %d inputs into %d columns needs %d bytes of shared memory per block, over %d", bits, K, colBlocks*mvCols, mvShared(per), mvSharedMax))
		return
	}
	args = append(args, p.x.p, res, rdst, o.b.mvPart, o.b.mvCount, K, per, w0.q.zeroOffset)
	o.oneRowLaunch("gptq_mv4", [3]int{colBlocks, splits, 1}, mvShared(per), args...)
}

// oneRowEarly launches the one-row products (gptq_mvq3, gptq_mv4) with programmatic
// stream serialization on devices of compute capability 9.0 and later: their blocks
// start copying their first weights while the kernel ahead of them finishes, and
// wait for it (kernels/gptq.cu's earlyWait) before reading their inputs; the kernels
// that precede them in a step let them start at once (common.cuh's launchDependents).
// On an H200 that made batch-1 decode steps 1-4% shorter on five of the six 65B
// branches (BENCHMARKS.md, "deeper rings, early launches"); benchmarks clear it to
// compare.
var oneRowEarly = true

// oneRowLaunch records a one-row product's launch of 128 threads a block, early
// where oneRowEarly says.
func (o ops) oneRowLaunch(name string, grid [3]int, shared int, args ...any) {
	if oneRowEarly && o.b.dev.major >= 9 {
		o.launchEarly(name, grid, 128, shared, args...)
		return
	}
	o.launch(name, grid, 128, shared, args...)
}

// mvqCols is the columns one block of gptq_mvq3 computes, and mvqPerSM the blocks one
// multiprocessor holds (128 registers a thread; TestMatVecOccupancy).
const (
	mvqCols  = 256
	mvqPerSM = 4
)

// mvqShared is the dynamic shared memory of a gptq_mvq3 block for per chunks (rounded
// up to whole quads): 16 input pairs, their (bias, sum) and a group index per chunk;
// mvqSharedMax is what is left of the 48 KB a block may use beside the static ring of
// two quads per warp.
func mvqShared(per int) int { return 76 * ceil(per, 4) * 4 }

const mvqSharedMax = 48<<10 - 35920

// mvqRangesMax, when positive, bounds the K ranges of a one-row decode product on
// gptq_mvq3 (tests lower it to give each block many quads).
var mvqRangesMax = 0

// mvqSplits picks the K ranges of a one-row product on gptq_mvq3: as many as keep
// mvqPerSM blocks on every multiprocessor, all resident at once, each range whole
// quads of chunks but the last.
func (o ops) mvqSplits(chunks, colBlocks int) (splits, per int) {
	splits = max(1, min(chunks, mvqPerSM*o.b.dev.sms/colBlocks))
	if mvqRangesMax > 0 {
		splits = min(splits, mvqRangesMax)
	}
	per = 4 * ceil(ceil(chunks, splits), 4)
	return ceil(chunks, per), per
}

// flushQuad launches the pending one-row 3-bit decode products (args: the three
// weights' parameters) on gptq_mvq3 (kernels/gptq.cu, matvec_q: the weights unpacked
// with one LOP3 per pair and multiplied on the tensor cores): one block per 256
// columns of a weight and range of K.
func (o ops) flushQuad(args []any, K int, res, rdst cu.DevicePtr, zeroOffset float32) {
	p := &o.b.pend
	colBlocks, partN := 0, 0
	for _, w := range p.ws[:p.n] {
		colBlocks += ceil(w.cols, mvqCols)
		partN += w.cols
	}
	splits, per := o.mvqSplits(K/32, colBlocks)
	if mvqShared(per) > mvqSharedMax {
		o.fail(fmt.Errorf("cuda: MatMul: 3-bit decode product of %d inputs into %d columns needs %d bytes of shared memory per block, over %d", K, partN, mvqShared(per), mvqSharedMax))
		return
	}
	if splits > 1 && (colBlocks > mvBlocks(o.b.dev.sms) || splits*partN > mvPartFloats(o.b.dev.sms)) {
		o.fail(fmt.Errorf("cuda: MatMul: 3-bit decode product of %d inputs into %d columns needs %d ranges of K, over the partial sums' buffer", K, partN, splits))
		return
	}
	args = append(args, p.x.p, res, rdst, o.b.mvPart, o.b.mvCount, K, per, zeroOffset)
	o.oneRowLaunch("gptq_mvq3", [3]int{colBlocks, splits, 1}, mvqShared(per), args...)
}

func (o ops) MatMul(dst, x, w engine.Tensor) {
	o.flushRoPE()
	t, ok := o.args("MatMul", dst, x, w)
	if !ok {
		return
	}
	y, a, wt := t[0], t[1], t[2]
	rows := o.b.rows
	if wt.kind == quantized && rows <= mvRowsMax && fastMatvec && (wt.q.bits == 3 || wt.q.bits == 4) {
		K, N := wt.rows, wt.cols
		if a.kind != activation || y.kind != activation || a.cols != K || y.cols != N {
			o.fail(fmt.Errorf("cuda: MatMul: %d columns × %d×%d weight into %d columns", a.cols, K, N, y.cols))
			return
		}
		o.queue(y, a, wt)
		return
	}
	o.flush()
	switch wt.kind {
	case quantized:
		K, N := wt.rows, wt.cols
		if a.kind != activation || y.kind != activation || a.cols != K || y.cols != N {
			o.fail(fmt.Errorf("cuda: MatMul: %d columns × %d×%d weight into %d columns", a.cols, K, N, y.cols))
			return
		}
		q := wt.q
		if rows == 1 {
			o.b.prog.zero(y.p, N)
			colBlocks := ceil(N, 512)
			splits, per := o.splitK(K/32, colBlocks, 0)
			o.launch(fmt.Sprintf("gptq_matvec_%d", q.bits), [3]int{colBlocks, splits, 1}, 128, per*33*4,
				wt.p, q.qzeros, q.scales, q.cgroup, q.perm, a.p, y.p, K, N, per, q.zeroOffset)
			return
		}
		if fastGemm && (q.bits == 3 || q.bits == 4) {
			// x in float16, sorted like the rows and paired like the unpacking, then
			// the tensor-core product on it.
			if int64(rows)*int64(K)*2 > xhBytes(o.b.shape) {
				o.fail(fmt.Errorf("cuda: MatMul: %d rows of %d inputs exceed the float16 input buffer (%d bytes)", rows, K, xhBytes(o.b.shape)))
				return
			}
			if p, ok := o.mmPlan(rows, K, N, q.bits); ok {
				k := p.k
				g := o.gatherInput(k, q.bits, a.p, q.perm, rows, K)
				if p.grid[2] > 1 {
					o.b.prog.zero(y.p, rows*N)
				}
				switch k.kind {
				case "gptq_mm":
					o.launch(k.name(q.bits), p.grid, k.threads(), p.shared,
						wt.p, q.qzeros, q.scales, q.cgroup, o.b.xh, y.p, rows, K, N, p.per, q.zeroOffset)
				case longBuild.kind:
					o.launch(fmt.Sprintf("dequant_t%d", q.bits), [3]int{ceil(N, dequantCols), ceil(K/32, dequantChunks), 1}, 256, 0,
						wt.p, q.qzeros, q.scales, q.cgroup, o.b.longW, K, N, q.zeroOffset)
					o.launch(k.name(q.bits), p.grid, k.threads(), p.shared,
						o.b.longW, o.b.xh, y.p, rows, K, N, p.per, p.streamed, o.b.mmFix, o.b.mmFlags)
				default:
					o.launch(k.name(q.bits), p.grid, k.threads(), p.shared,
						wt.p, q.qzeros, q.scales, q.cgroup, o.b.xh, y.p, rows, K, N, p.per, q.zeroOffset, p.streamed, o.b.mmFix, o.b.mmFlags)
				}
				o.b.prog.gathered(g, y.p)
				return
			}
		}
		o.launch(fmt.Sprintf("gptq_gemm_%d", q.bits), [3]int{ceil(N, 128), ceil(rows, 64), 1}, 128, 0,
			wt.p, q.qzeros, q.scales, q.cgroup, q.perm, a.p, y.p, rows, K, N, q.zeroOffset)
	case dense:
		if o.denseArgs("MatMul", y, a, wt) {
			o.dense(wt, a.p, y.p, rows)
		}
	default:
		o.fail(fmt.Errorf("cuda: MatMul: the weight is not a weight"))
	}
}

// MatMulLast implements engine.LastRowOps: a dense product (the output layer) on the
// batch's last row alone, with gemv_f16 as a one-row step runs it; other products
// on every row (MatMul).
func (o ops) MatMulLast(dst, x, w engine.Tensor) {
	t, ok := o.args("MatMulLast", dst, x, w)
	if !ok {
		return
	}
	y, a, wt := t[0], t[1], t[2]
	if wt.kind != dense || o.b.rows == 1 {
		o.MatMul(dst, x, w)
		return
	}
	o.flush()
	N, K := wt.rows, wt.cols
	if a.kind != activation || y.kind != activation || a.cols != K || y.cols != N {
		o.fail(fmt.Errorf("cuda: MatMulLast: %d columns × dense %d×%d (transposed) into %d columns", a.cols, N, K, y.cols))
		return
	}
	last := cu.DevicePtr(o.b.rows - 1)
	o.launch("gemv_f16", [3]int{ceil(N, 8), 1, 1}, 256, 0, wt.p, a.p+last*cu.DevicePtr(4*K), y.p+last*cu.DevicePtr(4*N), K, N)
}

var _ engine.LastRowOps = ops{}

// denseArgs checks the operands of a dense product: activations of the weight's
// input and output widths (it is stored [out, in]), the input a multiple of 32.
func (o ops) denseArgs(op string, y, a, wt *tensor) bool {
	N, K := wt.rows, wt.cols
	if a.kind != activation || y.kind != activation || a.cols != K || y.cols != N || K%32 != 0 {
		o.fail(fmt.Errorf("cuda: %s: %d columns × dense %d×%d (transposed) into %d columns", op, a.cols, N, K, y.cols))
		return false
	}
	return true
}

// dense launches the dense product of rows rows of x by wt into y: gemv_f16 for one
// row, dense_rowsR up to 32 (denseRows), gemm_f16 past that.
func (o ops) dense(wt *tensor, x, y cu.DevicePtr, rows int) {
	N, K := wt.rows, wt.cols
	if rows == 1 {
		o.launch("gemv_f16", [3]int{ceil(N, 8), 1, 1}, 256, 0, wt.p, x, y, K, N)
		return
	}
	if r := denseRows(rows); r > 0 && fastDense {
		o.launch(fmt.Sprintf("dense_rows%d", r), [3]int{ceil(N, 64), 1, 1}, 128, 0, wt.p, x, y, rows, K, N)
		return
	}
	o.launch("gemm_f16", [3]int{ceil(N, 128), ceil(rows, 64), 1}, 128, 0, wt.p, x, y, rows, K, N)
}

// headRowsMax is the most rows MatMulRows takes apart from the rest (its buffers:
// headX, headY); more run on every row.
const headRowsMax = 64

// MatMulRows implements engine.RowOps: a dense product (the output layer) on the
// listed rows alone. rows_gather copies them together into headX, the product runs
// on them as a step of that many rows would (dense), and rows_scatter puts them in
// place in dst. The list goes to the device with the step (headRows, copied before
// the step's launches as RunBatch's block tables are), so a graph replayed for a
// step of as many rows reads that step's own list. Every row of the batch, more than
// headRowsMax, a weight wider than the buffers or another kind of weight run MatMul
// on every row; none runs nothing.
func (o ops) MatMulRows(dst, x, w engine.Tensor, rows []int) {
	t, ok := o.args("MatMulRows", dst, x, w)
	if !ok {
		return
	}
	y, a, wt := t[0], t[1], t[2]
	for i, r := range rows {
		if r < 0 || r >= o.b.rows || i > 0 && r <= rows[i-1] {
			o.fail(fmt.Errorf("cuda: MatMulRows: row %d of %v in a batch of %d (ascending, each once)", r, rows, o.b.rows))
			return
		}
	}
	k := len(rows)
	if k == 0 {
		return
	}
	if wt.kind != dense || k == o.b.rows || k > headRowsMax || wt.cols > o.b.shape.Hidden || wt.rows > o.b.shape.Vocab {
		o.MatMul(dst, x, w)
		return
	}
	o.flush()
	if !o.denseArgs("MatMulRows", y, a, wt) {
		return
	}
	idx := make([]int32, k)
	for i, r := range rows {
		idx[i] = int32(r)
	}
	if err := cu.MemcpyHtoD(o.b.headRows, unsafe.Pointer(&idx[0]), int64(4*k)); err != nil {
		o.fail(fmt.Errorf("cuda: copy MatMulRows' %d rows: %w", k, err))
		return
	}
	N, K := wt.rows, wt.cols
	o.launch("rows_gather", [3]int{ceil(K, 256), k, 1}, 256, 0, a.p, o.b.headRows, o.b.headX, K)
	o.dense(wt, o.b.headX, o.b.headY, k)
	o.launch("rows_scatter", [3]int{ceil(N, 256), k, 1}, 256, 0, o.b.headY, o.b.headRows, y.p, N)
}

var _ engine.RowOps = ops{}

// pendingRoPE holds RoPE operations recorded but not yet launched (at most two, on
// distinct tensors): an Attention whose q and k they rotate takes them into its
// rope_store launch (rotation, then the cache store, in one kernel); any other
// operation launches them first, alone.
type pendingRoPE struct {
	n  int
	x  [2]*tensor
	hd [2]int
	th [2]float32
}

// denseRows is the dense_rowsR kernel (R = 8, 16, 32) a dense product of rows rows
// takes, 0 past 32: gemm_f16's tiles, which read the weight once per 64 rows, are
// faster there (BENCHMARKS.md, "The step around the products": 65B's lm_head at 64
// rows took 0.84 ms on dense_rows64, whose x reads from L1 outweigh W's, against
// gemm_f16's 0.72; at 16 rows 0.28 against 0.50).
func denseRows(rows int) int {
	for _, r := range []int{8, 16, 32} {
		if rows <= r {
			return r
		}
	}
	return 0
}

// fastDense selects dense_rowsR for dense products of 2..32 rows; tests and
// benchmarks clear it to run gemm_f16.
var fastDense = true

func (o ops) RoPE(x engine.Tensor, headDim int, theta float32) {
	o.flushProducts()
	t, ok := o.args("RoPE", x)
	if !ok {
		return
	}
	if t[0].kind != activation || headDim <= 0 || headDim%2 != 0 || t[0].cols%headDim != 0 {
		o.fail(fmt.Errorf("cuda: RoPE: %d columns in heads of %d", t[0].cols, headDim))
		return
	}
	r := &o.b.ropes
	if r.n == len(r.x) || (r.n == 1 && r.x[0] == t[0]) {
		o.flushRoPE()
	}
	r.x[r.n], r.hd[r.n], r.th[r.n] = t[0], headDim, theta
	r.n++
}

// flushRoPE launches the pending RoPE operations, each alone: rope_store with no
// kv heads rotates x in place and stores nothing.
func (o ops) flushRoPE() {
	r := &o.b.ropes
	for i := range r.n {
		o.ropeStore(r.x[i], nil, nil, nil, r.x[i].cols/r.hd[i], 0, r.hd[i], r.th[i], true, false)
	}
	*r = pendingRoPE{}
}

// ropeStore launches rope_store_own (under Run) or rope_store_paged (under RunBatch):
// q and k rotated where asked, then k and v stored in cache c (none when kvHeads is 0).
func (o ops) ropeStore(q, k, v, c *tensor, heads, kvHeads, hd int, theta float32, ropeQ, ropeK bool) {
	b := o.b
	ptr := func(t *tensor) cu.DevicePtr {
		if t == nil {
			return 0
		}
		return t.p
	}
	flag := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	grid := [3]int{ceil(heads*hd/2, 128), b.rows, 1}
	if b.batched {
		p, slots := b.pool, 0
		if c != nil {
			slots = c.rows
		}
		o.launch("rope_store_paged", grid, 128, 0, q.p, ptr(k), ptr(v), ptr(c), p.pos, p.seq, p.tables, p.stride,
			heads, kvHeads, hd, p.blockSize, slots, theta, flag(ropeQ), flag(ropeK))
		return
	}
	maxT := 0
	if c != nil {
		maxT = c.rows
	}
	o.launch("rope_store_own", grid, 128, 0, q.p, ptr(k), ptr(v), ptr(c), b.step, heads, kvHeads, hd, maxT,
		theta, flag(ropeQ), flag(ropeK))
}

// storeKV rotates q and k by the pending RoPE operations on them and stores k and v in
// cache c, in one launch when the pending operations are on q and k alone; otherwise
// it launches those first.
func (o ops) storeKV(q, k, v, c *tensor) {
	s, r := o.b.shape, &o.b.ropes
	var ropeQ, ropeK bool
	theta := float32(0)
	fused := q != k && v != q
	for i := range r.n {
		x := r.x[i]
		fused = fused && (x == q || x == k) && r.hd[i] == s.HeadDim && (i == 0 || r.th[i] == r.th[0])
		ropeQ, ropeK, theta = ropeQ || x == q, ropeK || x == k, r.th[i]
	}
	if !fused {
		o.flushRoPE()
		ropeQ, ropeK = false, false
	}
	*r = pendingRoPE{}
	o.ropeStore(q, k, v, c, s.Heads, s.KVHeads, s.HeadDim, theta, ropeQ, ropeK)
}

func (o ops) Attention(dst, q, k, v, kv engine.Tensor) {
	o.flushProducts()
	t, ok := o.args("Attention", dst, q, k, v, kv)
	if !ok || !o.same("Attention", t[0], t[1]) || !o.same("Attention", t[2], t[3]) {
		o.flushRoPE()
		return
	}
	c, s := t[4], o.b.shape
	hd := s.HeadDim
	want := cache
	if o.b.batched {
		want = paged
	}
	if c.kind != want {
		o.fail(fmt.Errorf("cuda: Attention: a paged cache under Run, or a one-sequence cache under RunBatch"))
		return
	}
	if c.cols != t[2].cols || t[1].cols != s.Heads*hd || c.cols != s.KVHeads*hd || s.Heads%s.KVHeads != 0 {
		o.fail(fmt.Errorf("cuda: Attention: q of %d, k/v of %d columns, cache of %d for %d heads and %d kv heads of %d", t[1].cols, t[2].cols, c.cols, s.Heads, s.KVHeads, hd))
		return
	}
	o.storeKV(t[1], t[2], t[3], c)
	if o.b.batched {
		o.attentionPaged(t[0], t[1], c)
		return
	}
	if rows := o.b.rows; rows > 1 && fastAttention && (hd == 64 || hd == 128) && rows*s.Heads > splitPairsPerSM*o.b.dev.sms {
		o.launch(fmt.Sprintf("attention_prompt%d", hd), [3]int{ceil(o.b.rows, 64), s.Heads, 1}, 128, attnPromptShared(hd),
			t[1].p, c.p, t[0].p, o.b.step, o.b.rows, s.Heads, s.KVHeads, c.rows, attnScale(hd))
		return
	}
	splits := attnSplits(o.b.dev.sms, s.Heads*o.b.rows, c.rows)
	o.launch("attention_split", [3]int{s.Heads, o.b.rows, splits}, 128, 0,
		t[1].p, c.p, t[0].p, o.b.part, o.b.attnCount, o.b.step, s.Heads, s.KVHeads, hd, c.rows, attnScale(hd))
}

func attnScale(hd int) float32 { return float32(1 / math.Sqrt(float64(hd))) }

// attnPromptShared is attention_prompt's dynamic shared memory for head size hd: two
// tiles of 64 keys' K and V, rows of hd+8 halves (kernels/llama.cu).
func attnPromptShared(hd int) int { return 2 * 2 * 64 * (hd + 8) * 2 }

// fastAttention selects attention_prompt64/128 (tensor cores, float16 scores and
// probabilities) for batches of several rows; tests and benchmarks clear it to run
// attention_split, which computes in float32.
var fastAttention = true

// splitPairsPerSM keeps a Run of a few rows (a speculative step's verification:
// the step's token and its drafts) on attention_split, as a one-row decode step
// is, while its rows×heads are at most this many per multiprocessor: each
// (row, head) then still splits its keys over blocks (attnSplits), where
// attention_prompt runs one block per head and 64 rows, and the rows get the
// float32 arithmetic of plain decoding. BenchmarkVerifyAttention on the H200 at
// 512 positions (BENCHMARKS.md, "Speculative decoding"): 65B's 64 heads of 128,
// 2 / 3 / 5 / 9 / 17 rows, 23.6 / 26.4 / 29.3 / 38.8 / 59.8 µs on attention_split
// against 35.8 / 36.3 / 36.3 / 38.3 / 39.4 on attention_prompt, so 65B takes it
// up to 8 rows; rewoo-tiny's 4 heads of 64 lose 5.5 µs a layer at 2 to 5 rows
// (28 against 22.2) but keep decoding's arithmetic. BenchmarkVerifyAttention
// sets it to 0 to run attention_prompt from two rows.
var splitPairsPerSM = 4

// attnSplits is how many blocks share the keys of one (row, head) so that about four
// blocks per multiprocessor run: 1 once rows×heads alone fill the device, at most 32
// and at most the cache's positions.
func attnSplits(sms, pairs, positions int) int {
	return max(1, min(32, positions, ceil(4*sms, pairs)))
}

// attnParts bounds the partial results attention_split and attention_paged write:
// rows×heads×splits is below 8 blocks per multiprocessor whenever there is more than
// one split, and attnCounts their split counters: rows×heads is then below 4 per
// multiprocessor.
func attnParts(sms int) int  { return 8 * sms }
func attnCounts(sms int) int { return 4 * sms }

func (o ops) SiLUMul(dst, gate, up engine.Tensor) {
	o.flush()
	t, ok := o.args("SiLUMul", dst, gate, up)
	if !ok || !o.same("SiLUMul", t...) {
		return
	}
	n := o.b.rows * t[0].cols
	o.launch("silu_mul", [3]int{ceil(n, 1024), 1, 1}, 256, 0, t[1].p, t[2].p, t[0].p, n)
}

func (o ops) Add(dst, a, b engine.Tensor) {
	t, ok := o.args("Add", dst, a, b)
	if !ok || !o.same("Add", t...) {
		o.flush()
		return
	}
	if p := &o.b.pend; p.n == 1 {
		// y = x·W then dst = y + r (or r + y): one launch, unless r or dst is the
		// product's input, which other blocks may still be reading.
		h, r := p.ys[0], t[1]
		if r == h {
			r = t[2]
		}
		if (t[1] == h) != (t[2] == h) && r != p.x && t[0] != p.x {
			p.res, p.rdst = r, t[0]
			o.flush()
			return
		}
	}
	o.flush()
	n := o.b.rows * t[0].cols
	o.launch("add", [3]int{ceil(n, 1024), 1, 1}, 256, 0, t[1].p, t[2].p, t[0].p, n)
}
