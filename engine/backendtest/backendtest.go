// Package backendtest is the conformance suite of engine.Backend: every backend's
// tests call Run, which checks each operation of engine.Ops on random inputs
// against float64 references written here from the operations' definitions (not
// against another backend), for every GPTQ bit width (2, 3, 4, 8), group size
// (-1, 32, 128) and act-order, at several row counts (one row is the decode path,
// more the prompt path), then runs whole random checkpoints greedily through
// engine/llama against a float64 LLaMA. Backends with the optional
// engine.PagedBackend also get its paged attention checked; others skip that part.
//
// The tolerances are the contract of the interface: activations may be float16
// (engine.Backend.NewActivation), so each operation may lose about what float16
// storage and float16 products lose, never more. Inputs reach a backend only
// through its operations: every activation is filled by Embed from a float16 table,
// so storing inputs as float16 is exact and the references see the very values the
// backend does.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) engine.Backend { return cpu.New() })
//	}
package backendtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// Open returns a new, unreserved backend; the suite reserves and closes it. It calls
// t.Skip where the backend cannot run (no device).
type Open func(t *testing.T) engine.Backend

// Run runs the whole suite on the backends open returns, one per part.
func Run(t *testing.T, open Open) {
	t.Run("Embed", func(t *testing.T) { testEmbed(t, open) })
	t.Run("RMSNorm", func(t *testing.T) { testRMSNorm(t, open) })
	t.Run("Elementwise", func(t *testing.T) { testElementwise(t, open) })
	t.Run("RoPE", func(t *testing.T) { testRoPE(t, open) })
	t.Run("MatMulDense", func(t *testing.T) { testMatMulDense(t, open) })
	t.Run("MatMulQuant", func(t *testing.T) { testMatMulQuant(t, open) })
	t.Run("MatMulRows", func(t *testing.T) { testMatMulRows(t, open) })
	t.Run("Attention", func(t *testing.T) { testAttention(t, open) })
	t.Run("Misuse", func(t *testing.T) { testMisuse(t, open) })
	t.Run("Paged", func(t *testing.T) { testPaged(t, open) })
	t.Run("Model", func(t *testing.T) { testModel(t, open) })
}

var ctx = context.Background()

// opShape is the shape the operation tests reserve: grouped-query heads, widths
// that are multiples of 32 but not of 128, and room for 160-row batches.
var opShape = engine.Shape{Hidden: 256, Intermediate: 512, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 64,
	Vocab: 512, Context: 320, MaxBatch: 160}

// rowCounts are the batch sizes of the operation tests: the decode path, small and
// odd prompt batches, and more than one 128-row tile.
var rowCounts = []int{1, 3, 67, 130}

// harness is a reserved backend and the test's random source.
type harness struct {
	t *testing.T
	b engine.Backend
	s engine.Shape
	r *rand.Rand
}

func newHarness(t *testing.T, open Open, s engine.Shape, seed uint64) *harness {
	t.Helper()
	b := open(t)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := b.Reserve(ctx, s); err != nil {
		t.Fatalf("Reserve(%+v): %v", s, err)
	}
	return &harness{t: t, b: b, s: s, r: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// table loads a Vocab×cols float16 weight of N(mean, std) values and returns it with
// its values.
func (h *harness) table(cols int, mean, std float64) (engine.Tensor, [][]float64) {
	return h.dense(h.s.Vocab, cols, mean, std)
}

// dense loads a rows×cols float16 weight of N(mean, std) values.
func (h *harness) dense(rows, cols int, mean, std float64) (engine.Tensor, [][]float64) {
	h.t.Helper()
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = float32(mean + std*h.r.NormFloat64())
	}
	raw := make([]byte, 2*len(v))
	half.Encode(raw, v)
	half.Decode(v, raw)
	w, err := h.b.LoadDense(ctx, engine.DenseWeight{Name: fmt.Sprintf("test %d×%d", rows, cols), Rows: rows, Cols: cols, F16: raw})
	if err != nil {
		h.t.Fatalf("LoadDense %d×%d: %v", rows, cols, err)
	}
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
		for j := range cols {
			out[i][j] = float64(v[i*cols+j])
		}
	}
	return w, out
}

// act is a fresh MaxBatch×cols activation.
func (h *harness) act(cols int) engine.Tensor {
	h.t.Helper()
	a, err := h.b.NewActivation(ctx, h.s.MaxBatch, cols)
	if err != nil {
		h.t.Fatalf("NewActivation %d×%d: %v", h.s.MaxBatch, cols, err)
	}
	return a
}

// ids draws n ids of the vocabulary.
func (h *harness) ids(n int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(h.r.IntN(h.s.Vocab))
	}
	return v
}

func (h *harness) run(ids []int32, start int, step func(engine.Ops)) {
	h.t.Helper()
	if err := h.b.Run(ctx, ids, start, step); err != nil {
		h.t.Fatalf("Run of %d rows at %d: %v", len(ids), start, err)
	}
}

func (h *harness) read(x engine.Tensor, rows int) [][]float64 {
	h.t.Helper()
	_, cols := x.Dims()
	v := make([]float32, rows*cols)
	if err := h.b.Read(ctx, v, x, 0, rows); err != nil {
		h.t.Fatalf("Read %d rows: %v", rows, err)
	}
	return matrix(v, rows, cols)
}

// rows picks the table rows of ids.
func rows(table [][]float64, ids []int32) [][]float64 {
	out := make([][]float64, len(ids))
	for i, id := range ids {
		out[i] = slices.Clone(table[id])
	}
	return out
}

// relErr is ||got-want|| / ||want|| over all values; a NaN or Inf in got (an
// unwritten or overflowed output) gives +Inf.
func relErr(got, want [][]float64) float64 {
	var num, den float64
	for i := range want {
		for j, w := range want[i] {
			g := got[i][j]
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return math.Inf(1)
			}
			num += (g - w) * (g - w)
			den += w * w
		}
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func expectClose(t *testing.T, what string, got, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	if e := relErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
	}
}

func testEmbed(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 1)
	tab, tv := h.table(h.s.Hidden, 0, 1)
	x := h.act(h.s.Hidden)
	for _, n := range rowCounts {
		ids := h.ids(n)
		h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab) })
		// float16 values, whatever the activations are stored in: exact.
		expectClose(t, fmt.Sprintf("%d rows", n), h.read(x, n), rows(tv, ids), 0)
	}
}

func rmsnormRef(x [][]float64, w []float64, eps float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		var ss float64
		for _, v := range row {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(row))+eps)
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = v * r * w[j]
		}
	}
	return out
}

func testRMSNorm(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 2)
	tab, tv := h.table(h.s.Hidden, 0, 3)
	w, wv := h.dense(1, h.s.Hidden, 1, 0.2)
	x, y := h.act(h.s.Hidden), h.act(h.s.Hidden)
	const eps = 1e-5
	for _, n := range rowCounts {
		ids := h.ids(n)
		want := rmsnormRef(rows(tv, ids), wv[0], eps)
		h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.RMSNorm(y, x, w, eps) })
		expectClose(t, fmt.Sprintf("%d rows", n), h.read(y, n), want, 2e-3)
		h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.RMSNorm(x, x, w, eps) })
		expectClose(t, fmt.Sprintf("%d rows in place", n), h.read(x, n), want, 2e-3)
	}
}

func testElementwise(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 3)
	cols := h.s.Intermediate
	ta, av := h.table(cols, 0, 2)
	tb, bv := h.table(cols, 0, 2)
	a, b, d := h.act(cols), h.act(cols), h.act(cols)
	silu := func(g, u float64) float64 { return g / (1 + math.Exp(-g)) * u }
	add := func(p, q float64) float64 { return p + q }
	apply := func(f func(p, q float64) float64, x, y [][]float64) [][]float64 {
		out := make([][]float64, len(x))
		for i := range x {
			out[i] = make([]float64, len(x[i]))
			for j := range x[i] {
				out[i][j] = f(x[i][j], y[i][j])
			}
		}
		return out
	}
	for _, n := range rowCounts {
		ids := h.ids(n)
		x, y := rows(av, ids), rows(bv, ids)
		for _, c := range []struct {
			name string
			op   func(o engine.Ops)
			out  engine.Tensor
			want [][]float64
		}{
			{"add", func(o engine.Ops) { o.Add(d, a, b) }, d, apply(add, x, y)},
			{"add into a", func(o engine.Ops) { o.Add(a, a, b) }, a, apply(add, x, y)},
			{"add into b", func(o engine.Ops) { o.Add(b, a, b) }, b, apply(add, x, y)},
			{"silu", func(o engine.Ops) { o.SiLUMul(d, a, b) }, d, apply(silu, x, y)},
			{"silu into gate", func(o engine.Ops) { o.SiLUMul(a, a, b) }, a, apply(silu, x, y)},
			{"silu into up", func(o engine.Ops) { o.SiLUMul(b, a, b) }, b, apply(silu, x, y)},
		} {
			h.run(ids, 0, func(o engine.Ops) { o.Embed(a, ta); o.Embed(b, tb); c.op(o) })
			expectClose(t, fmt.Sprintf("%s, %d rows", c.name, n), h.read(c.out, n), c.want, 2e-3)
		}
	}
}

func ropeRef(x [][]float64, start, headDim int, theta float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = slices.Clone(row)
		p := float64(start + i)
		for off := 0; off < len(row); off += headDim {
			for j := range headDim / 2 {
				a := p * math.Pow(theta, -float64(2*j)/float64(headDim))
				x1, x2 := row[off+j], row[off+j+headDim/2]
				out[i][off+j] = x1*math.Cos(a) - x2*math.Sin(a)
				out[i][off+j+headDim/2] = x2*math.Cos(a) + x1*math.Sin(a)
			}
		}
	}
	return out
}

func testRoPE(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 4)
	s := h.s
	qc, kc := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	tq, qv := h.table(qc, 0, 1)
	tk, kv := h.table(kc, 0, 1)
	q, k := h.act(qc), h.act(kc)
	for _, n := range rowCounts {
		for _, start := range []int{0, s.Context - n} {
			ids := h.ids(n)
			h.run(ids, start, func(o engine.Ops) {
				o.Embed(q, tq)
				o.Embed(k, tk)
				o.RoPE(q, s.HeadDim, 10000)
				o.RoPE(k, s.HeadDim, 10000)
			})
			what := fmt.Sprintf("%d rows at %d", n, start)
			expectClose(t, "q, "+what, h.read(q, n), ropeRef(rows(qv, ids), start, s.HeadDim, 10000), 2e-3)
			expectClose(t, "k, "+what, h.read(k, n), ropeRef(rows(kv, ids), start, s.HeadDim, 10000), 2e-3)
		}
	}
}

// matmulRef is x·W for W [in][out].
func matmulRef(x [][]float64, w [][]float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, len(w[0]))
		for k, xv := range row {
			for n, wv := range w[k] {
				out[i][n] += xv * wv
			}
		}
	}
	return out
}

func transpose(w [][]float64) [][]float64 {
	out := make([][]float64, len(w[0]))
	for j := range out {
		out[j] = make([]float64, len(w))
		for i := range w {
			out[j][i] = w[i][j]
		}
	}
	return out
}

func testMatMulDense(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 5)
	in, out := h.s.Hidden, 320
	tab, xv := h.table(in, 0, 1)
	w, wv := h.dense(out, in, 0, 1/math.Sqrt(float64(in))) // [out, in] as lm_head
	wt := transpose(wv)
	x, y := h.act(in), h.act(out)
	for _, n := range rowCounts {
		ids := h.ids(n)
		h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.MatMul(y, x, w) })
		expectClose(t, fmt.Sprintf("%d rows", n), h.read(y, n), matmulRef(rows(xv, ids), wt), 5e-3)
	}
}

// testMatMulRows checks the output layer on some rows alone, where the backend's Ops
// offer it: MatMulLast's last row and MatMulRows' listed rows (none, one, several,
// all) against the float64 product, lists of one length after one another, so that
// a backend that replays a step (CUDA graphs) must have taken the rows as data.
func testMatMulRows(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 8)
	in, out := h.s.Hidden, 320
	tab, xv := h.table(in, 0, 1)
	w, wv := h.dense(out, in, 0, 1/math.Sqrt(float64(in)))
	wt := transpose(wv)
	x, y := h.act(in), h.act(out)
	var last, some bool // what the Ops offer
	h.run(h.ids(1), 0, func(o engine.Ops) {
		_, last = o.(engine.LastRowOps)
		_, some = o.(engine.RowOps)
	})
	if !last && !some {
		t.Skip("the backend's Ops run products on every row only")
	}
	for _, n := range rowCounts {
		ids := h.ids(n)
		want := matmulRef(rows(xv, ids), wt)
		if last {
			h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.(engine.LastRowOps).MatMulLast(y, x, w) })
			expectClose(t, fmt.Sprintf("%d rows, the last", n), h.read(y, n)[n-1:], want[n-1:], 5e-3)
		}
		if !some {
			continue
		}
		// Lists of one length three times in a row: a backend that captures a step
		// the second time it sees it replays it the third.
		lists := [][]int{nil, {0}, {n - 1}, {n / 2}}
		if n > 3 {
			lists = append(lists, []int{0, 1, n - 1}, []int{1, 2, n / 2}, []int{0, n / 2, n - 1})
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		for _, list := range append(lists, all) {
			h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.(engine.RowOps).MatMulRows(y, x, w, list) })
			got := h.read(y, n)
			for _, r := range list {
				expectClose(t, fmt.Sprintf("%d rows, row %d of %v", n, r, list), got[r:r+1], want[r:r+1], 5e-3)
			}
		}
	}
}

// testMatMulQuant checks x·W for every bit width, group size and act-order, each at
// every row count, each product run twice (a backend may replay the second, as
// CUDA graphs do).
func testMatMulQuant(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 6)
	const out = 352 // not a multiple of 128
	for _, in := range []int{h.s.Hidden, h.s.Intermediate} {
		tab, xv := h.table(in, 0, 1)
		x, y := h.act(in), h.act(out)
		for _, bits := range []int{2, 3, 4, 8} {
			for _, group := range []int{-1, 32, 128} {
				for _, actOrder := range []bool{false, true} {
					opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Sym: h.r.IntN(2) == 0, Format: "gptq"}
					if h.r.IntN(3) == 0 {
						opt.Format = "gptq_v2"
					}
					if actOrder {
						opt.Perm = h.r.Perm(in)
					}
					name := fmt.Sprintf("%d×%d/%dbit/g%d/actorder=%v/%s/sym=%v", in, out, bits, group, actOrder, opt.Format, opt.Sym)
					t.Run(name, func(t *testing.T) {
						wf := make([]float32, in*out)
						for i := range wf {
							wf[i] = float32(h.r.NormFloat64() / math.Sqrt(float64(in)))
						}
						qw, err := gptqtest.Quantize(name, wf, in, out, opt)
						if err != nil {
							t.Fatal(err)
						}
						deq := gptqtest.Dequantize(qw)
						wv := make([][]float64, in)
						for k := range wv {
							wv[k] = make([]float64, out)
							for n := range out {
								wv[k][n] = float64(deq[k*out+n])
							}
						}
						w, err := h.b.LoadQuant(ctx, qw)
						if err != nil {
							t.Fatal(err)
						}
						for _, n := range rowCounts {
							ids := h.ids(n)
							want := matmulRef(rows(xv, ids), wv)
							for pass := range 2 {
								h.run(ids, 0, func(o engine.Ops) { o.Embed(x, tab); o.MatMul(y, x, w) })
								expectClose(t, fmt.Sprintf("%d rows, run %d", n, pass+1), h.read(y, n), want, 5e-3)
							}
						}
					})
				}
			}
		}
	}
}

// attentionRef is causal softmax attention of q rows at positions start.. over
// keys and values by position, query head h on key-value head h/(heads/kvHeads).
func attentionRef(q [][]float64, ks, vs [][]float64, start, heads, kvHeads, hd int) [][]float64 {
	out := make([][]float64, len(q))
	for i, row := range q {
		out[i] = make([]float64, heads*hd)
		n := start + i + 1
		for h := range heads {
			g := h / (heads / kvHeads)
			sc := make([]float64, n)
			mx := math.Inf(-1)
			for p := range n {
				for d := range hd {
					sc[p] += row[h*hd+d] * ks[p][g*hd+d]
				}
				sc[p] /= math.Sqrt(float64(hd))
				mx = max(mx, sc[p])
			}
			var z float64
			for p := range n {
				sc[p] = math.Exp(sc[p] - mx)
				z += sc[p]
			}
			for d := range hd {
				var a float64
				for p := range n {
					a += sc[p] * vs[p][g*hd+d]
				}
				out[i][h*hd+d] = a / z
			}
		}
	}
	return out
}

// testAttention feeds a prompt, decode steps, a short batch, a rewind and more decode
// steps through one cache, for two head layouts.
func testAttention(t *testing.T, open Open) {
	for _, c := range []struct{ heads, kvHeads, hd int }{{4, 2, 64}, {2, 1, 128}, {4, 4, 64}} {
		t.Run(fmt.Sprintf("%dh/%dkv/%dd", c.heads, c.kvHeads, c.hd), func(t *testing.T) {
			s := opShape
			s.Heads, s.KVHeads, s.HeadDim, s.Hidden = c.heads, c.kvHeads, c.hd, c.heads*c.hd
			h := newHarness(t, open, s, 7)
			qc, kc := c.heads*c.hd, c.kvHeads*c.hd
			tq, qv := h.table(qc, 0, 1)
			tk, kv := h.table(kc, 0, 1)
			tv, vv := h.table(kc, 0, 1)
			q, k, v, d := h.act(qc), h.act(kc), h.act(kc), h.act(qc)
			cache, err := h.b.NewCache(ctx, c.kvHeads, c.hd)
			if err != nil {
				t.Fatal(err)
			}
			var ks, vs [][]float64 // what the cache holds, by position
			for _, ch := range []struct{ start, rows int }{{0, 130}, {130, 1}, {131, 1}, {132, 3}, {40, 67}, {107, 1}, {108, 1}, {109, 150}, {259, 1}} {
				ids := h.ids(ch.rows)
				h.run(ids, ch.start, func(o engine.Ops) {
					o.Embed(q, tq)
					o.Embed(k, tk)
					o.Embed(v, tv)
					o.Attention(d, q, k, v, cache)
				})
				ks, vs = append(ks[:ch.start], rows(kv, ids)...), append(vs[:ch.start], rows(vv, ids)...)
				want := attentionRef(rows(qv, ids), ks, vs, ch.start, c.heads, c.kvHeads, c.hd)
				expectClose(t, fmt.Sprintf("%d rows at %d", ch.rows, ch.start), h.read(d, ch.rows), want, 5e-3)
			}
		})
	}
}

// testMisuse: operations on mismatched tensors, batches outside the shape and
// out-of-range reads are errors from Run or Read, never a panic or a silent result.
func testMisuse(t *testing.T, open Open) {
	h := newHarness(t, open, opShape, 8)
	tab, tv := h.table(h.s.Hidden, 0, 1)
	x, y := h.act(h.s.Hidden), h.act(h.s.Intermediate)
	w, _ := h.dense(320, h.s.Hidden, 0, 0.1)
	for _, c := range []struct {
		name  string
		ids   []int32
		start int
		step  func(o engine.Ops)
	}{
		{"add of different widths", []int32{1}, 0, func(o engine.Ops) { o.Add(x, x, y) }},
		{"matmul into the wrong width", []int32{1, 2}, 0, func(o engine.Ops) { o.MatMul(y, x, w) }},
		{"matmul by an activation", []int32{1}, 0, func(o engine.Ops) { o.MatMul(y, x, y) }},
		{"embed from an activation", []int32{1}, 0, func(o engine.Ops) { o.Embed(x, y) }},
		{"embed into the wrong width", []int32{1}, 0, func(o engine.Ops) { o.Embed(y, tab) }},
		{"no ids", nil, 0, func(o engine.Ops) {}},
		{"batch over MaxBatch", make([]int32, h.s.MaxBatch+1), 0, func(o engine.Ops) {}},
		{"past the context", []int32{1}, h.s.Context, func(o engine.Ops) {}},
		{"negative start", []int32{1}, -1, func(o engine.Ops) {}},
	} {
		if err := h.b.Run(ctx, c.ids, c.start, c.step); err == nil {
			t.Errorf("%s: Run accepted it", c.name)
		}
	}
	if err := h.b.Read(ctx, make([]float32, h.s.Hidden), x, h.s.MaxBatch, 1); err == nil {
		t.Error("Read past the last row accepted")
	}
	if err := h.b.Read(ctx, make([]float32, 3), x, 0, 1); err == nil {
		t.Error("Read into a buffer of the wrong size accepted")
	}
	// The backend still works after every refusal.
	h.run([]int32{3}, 0, func(o engine.Ops) { o.Embed(x, tab) })
	expectClose(t, "Embed after the refusals", h.read(x, 1), rows(tv, []int32{3}), 0)
}
