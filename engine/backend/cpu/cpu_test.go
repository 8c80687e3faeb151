package cpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

func randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// newBackend returns a backend reserved for a tiny shape, activations of cols.
func newBackend(t testing.TB, maxBatch int) *Backend {
	b := New()
	if err := b.Reserve(context.Background(), engine.Shape{Hidden: 8, Intermediate: 8, Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 8, Vocab: 8, Context: 64, MaxBatch: maxBatch}); err != nil {
		t.Fatal(err)
	}
	return b
}

func act(b *Backend, rows int, data []float32) engine.Tensor {
	a, _ := b.NewActivation(context.Background(), rows, len(data)/rows)
	copy(a.(*activation).data, data)
	return a
}

// TestQuantMatMul checks the packed product against x·Dequantize(W) computed in
// float64, for every width, group size (including groups that split packing runs
// and bytes), act-order, and any g_idx at all: groups of uneven sizes, some empty,
// whose boundaries fall anywhere in a word.
func TestQuantMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const in, out = 192, 96
	for _, bits := range []int{2, 3, 4, 8} {
		for _, group := range []int{-1, 16, 32, 64, 96} {
			for _, order := range []string{"seq", "act", "any"} {
				for _, T := range []int{1, 3, 4, 7} {
					t.Run(fmt.Sprintf("%dbit/g%d/%s/T%d", bits, group, order, T), func(t *testing.T) {
						opt := gptqtest.PackOptions{Bits: bits, GroupSize: group, Sym: bits != 3, Format: "gptq"}
						if order == "act" {
							opt.Perm = rng.Perm(in)
						}
						qw, err := gptqtest.Quantize("w", randn(rng, in*out), in, out, opt)
						if err != nil {
							t.Fatal(err)
						}
						if order == "any" {
							// Dequantize follows whatever g_idx says, so any is a valid layer.
							for k := range in {
								binary.LittleEndian.PutUint32(qw.GIdx[4*k:], uint32(rng.IntN(qw.Groups())))
							}
						}
						b := newBackend(t, 8)
						w, err := b.LoadQuant(context.Background(), qw)
						if err != nil {
							t.Fatal(err)
						}
						xs := randn(rng, 8*in)
						x, dst := act(b, 8, xs), act(b, 8, make([]float32, 8*out))
						ids := make([]int32, T)
						if err := b.Run(context.Background(), ids, 0, func(o engine.Ops) { o.MatMul(dst, x, w) }); err != nil {
							t.Fatal(err)
						}
						W := gptqtest.Dequantize(qw)
						got := dst.(*activation).data
						for r := range T {
							for n := range out {
								var want float64
								for k := range in {
									want += float64(xs[r*in+k]) * float64(W[k*out+n])
								}
								if d := math.Abs(float64(got[r*out+n]) - want); d > 1e-4*(1+math.Abs(want)) {
									t.Fatalf("y[%d,%d] = %v, want %v", r, n, got[r*out+n], want)
								}
							}
						}
					})
				}
			}
		}
	}
}

// TestOps checks the elementwise operations, RoPE and attention against direct
// float64 formulas.
func TestOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	ctx := context.Background()
	const hd, heads, kvHeads, T, start = 8, 4, 2, 3, 2
	b := newBackend(t, T)
	cache, _ := b.NewCache(ctx, kvHeads, hd)
	// Fill positions 0..1 through a first step, then check the second.
	kv := func() []float32 { return randn(rng, T*kvHeads*hd) }
	k0, v0 := kv(), kv()
	q0 := randn(rng, T*heads*hd)
	att := act(b, T, make([]float32, T*heads*hd))
	if err := b.Run(ctx, make([]int32, start), 0, func(o engine.Ops) {
		o.Attention(att, act(b, T, q0), act(b, T, k0), act(b, T, v0), cache)
	}); err != nil {
		t.Fatal(err)
	}
	qs, ks, vs := randn(rng, T*heads*hd), kv(), kv()
	q, k, v := act(b, T, qs), act(b, T, ks), act(b, T, vs)
	if err := b.Run(ctx, make([]int32, T), start, func(o engine.Ops) {
		o.RoPE(q, hd, 10000)
		o.Attention(att, q, k, v, cache)
	}); err != nil {
		t.Fatal(err)
	}
	// Keys and values at each position, as the reference sees them.
	keyAt := func(p, h int) []float32 {
		if p < start {
			return k0[p*kvHeads*hd+h*hd:][:hd]
		}
		return ks[(p-start)*kvHeads*hd+h*hd:][:hd]
	}
	valAt := func(p, h int) []float32 {
		if p < start {
			return v0[p*kvHeads*hd+h*hd:][:hd]
		}
		return vs[(p-start)*kvHeads*hd+h*hd:][:hd]
	}
	got := att.(*activation).data
	for r := range T {
		pos := start + r
		for h := range heads {
			// Rotate-half RoPE of the query, in float64.
			qh := make([]float64, hd)
			for j := range hd / 2 {
				ang := float64(pos) / math.Pow(10000, float64(2*j)/hd)
				a, c := float64(qs[r*heads*hd+h*hd+j]), float64(qs[r*heads*hd+h*hd+j+hd/2])
				qh[j] = a*math.Cos(ang) - c*math.Sin(ang)
				qh[j+hd/2] = c*math.Cos(ang) + a*math.Sin(ang)
			}
			kvh := h / (heads / kvHeads)
			w := make([]float64, pos+1)
			var sum float64
			for p := range w {
				var s float64
				for j, kj := range keyAt(p, kvh) {
					s += qh[j] * float64(kj)
				}
				w[p] = math.Exp(s / math.Sqrt(hd))
				sum += w[p]
			}
			for e := range hd {
				var want float64
				for p := range w {
					want += w[p] / sum * float64(valAt(p, kvh)[e])
				}
				if d := math.Abs(float64(got[r*heads*hd+h*hd+e]) - want); d > 1e-5 {
					t.Fatalf("att[%d] head %d [%d] = %v, want %v", r, h, e, got[r*heads*hd+h*hd+e], want)
				}
			}
		}
	}

	xs, ys := randn(rng, T*hd), randn(rng, T*hd)
	wf := randn(rng, hd)
	wb := make([]byte, 2*hd)
	half.Encode(wb, wf)
	norm, err := b.LoadDense(ctx, engine.DenseWeight{Name: "n", Rows: 1, Cols: hd, F16: wb})
	if err != nil {
		t.Fatal(err)
	}
	x, y, d := act(b, T, xs), act(b, T, ys), act(b, T, make([]float32, T*hd))
	check := func(name string, op func(engine.Ops), want func(i int) float64) {
		t.Run(name, func(t *testing.T) {
			if err := b.Run(ctx, make([]int32, T), 0, op); err != nil {
				t.Fatal(err)
			}
			for i, g := range d.(*activation).data {
				if w := want(i); math.Abs(float64(g)-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("[%d] = %v, want %v", i, g, w)
				}
			}
		})
	}
	check("add", func(o engine.Ops) { o.Add(d, x, y) }, func(i int) float64 { return float64(xs[i]) + float64(ys[i]) })
	check("silumul", func(o engine.Ops) { o.SiLUMul(d, x, y) }, func(i int) float64 {
		g := float64(xs[i])
		return g / (1 + math.Exp(-g)) * float64(ys[i])
	})
	check("rmsnorm", func(o engine.Ops) { o.RMSNorm(d, x, norm, 1e-5) }, func(i int) float64 {
		r := i / hd
		var ss float64
		for _, v := range xs[r*hd : (r+1)*hd] {
			ss += float64(v) * float64(v)
		}
		return float64(half.ToFloat32(half.FromFloat32(wf[i%hd]))) * float64(xs[i]) / math.Sqrt(ss/hd+1e-5)
	})
}

// TestErrors: misuse becomes an error from Run, never a panic.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, 2)
	x := act(b, 2, make([]float32, 16))
	y := act(b, 2, make([]float32, 12))
	table, _ := b.LoadDense(ctx, engine.DenseWeight{Name: "e", Rows: 4, Cols: 8, F16: make([]byte, 64)})
	cases := []struct {
		name string
		ids  []int32
		op   func(engine.Ops)
		want string
	}{
		{"add shapes", []int32{0}, func(o engine.Ops) { o.Add(x, x, y) }, "add"},
		{"matmul weight", []int32{0}, func(o engine.Ops) { o.MatMul(x, x, y) }, "matmul"},
		{"embed id", []int32{9}, func(o engine.Ops) { o.Embed(x, table) }, "id 9 outside"},
		{"embed table", []int32{0}, func(o engine.Ops) { o.Embed(x, y) }, "embed"},
		{"batch too big", []int32{0, 0, 0}, func(o engine.Ops) {}, "batch of 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := b.Run(ctx, c.ids, 0, c.op)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	bad := engine.QuantWeight{Name: "l", In: 64, Out: 64, Bits: 4, GroupSize: 64, QWeight: make([]byte, 10)}
	if _, err := b.LoadQuant(ctx, bad); err == nil || !strings.Contains(err.Error(), "l.qweight") {
		t.Errorf("short qweight: %v", err)
	}
}

// TestRunCancelled: a Run whose context has ended does no operation and returns
// the context's error; the backend works again on the next Run.
func TestRunCancelled(t *testing.T) {
	b := newBackend(t, 2)
	x := act(b, 2, []float32{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Run(ctx, []int32{0}, 0, func(o engine.Ops) { o.Add(x, x, x) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	if got := x.(*activation).data[0]; got != 1 {
		t.Fatalf("the cancelled Add ran: x[0] = %v", got)
	}
	if err := b.Run(context.Background(), []int32{0}, 0, func(o engine.Ops) { o.Add(x, x, x) }); err != nil {
		t.Fatal(err)
	}
	if got := x.(*activation).data[0]; got != 2 {
		t.Fatalf("x[0] = %v after Add, want 2", got)
	}
}

// TestQuantRowIndependent: a row's product is the same bits whatever batch it is
// computed in and wherever it sits there (blocks of four rows or the rows after
// them), which the continuous-batching scheduler relies on for exact ids.
func TestQuantRowIndependent(t *testing.T) {
	for _, bits := range []int{2, 3, 4, 8} {
		q, err := newQuant(randomLayer(256, 96, bits, 32))
		if err != nil {
			t.Fatal(err)
		}
		const T = 11
		x := make([]float32, T*q.in)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*0.7)) * 3
		}
		all := make([]float32, T*q.out)
		q.mul(all, x, T)
		for r := range T {
			one := make([]float32, q.out)
			q.mul(one, x[r*q.in:(r+1)*q.in], 1)
			if !slices.Equal(one, all[r*q.out:(r+1)*q.out]) {
				t.Errorf("%d bits: row %d of a batch of %d differs from the row alone", bits, r, T)
			}
		}
	}
}

// TestMatMulRows: MatMulRows (and MatMulLast, its last row) give the listed rows of
// dst the bits MatMul gives them, for a dense weight (the output layer) and an
// act-order quantized one, leave the other rows alone, and fail on rows out of
// range, out of order or repeated.
func TestMatMulRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ctx := context.Background()
	const T, in, out = 7, 64, 48
	b := newBackend(t, T)
	wb := make([]byte, 2*in*out)
	half.Encode(wb, randn(rng, in*out))
	dw, err := b.LoadDense(ctx, engine.DenseWeight{Name: "head", Rows: out, Cols: in, F16: wb})
	if err != nil {
		t.Fatal(err)
	}
	qw, err := gptqtest.Quantize("w", randn(rng, in*out), in, out, gptqtest.PackOptions{Bits: 4, GroupSize: 16, Perm: rng.Perm(in), Format: "gptq"})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := b.LoadQuant(ctx, qw)
	if err != nil {
		t.Fatal(err)
	}
	x := act(b, T, randn(rng, T*in))
	ids := make([]int32, T)
	const mark = -7.5 // what rows not computed keep
	for _, w := range []struct {
		name string
		t    engine.Tensor
	}{{"dense", dw}, {"quant", lw}} {
		all := act(b, T, make([]float32, T*out))
		if err := b.Run(ctx, ids, 0, func(o engine.Ops) { o.MatMul(all, x, w.t) }); err != nil {
			t.Fatal(err)
		}
		want := all.(*activation).data
		for _, rows := range [][]int{{0, 2, 5}, {6}, {1, 2, 3, 4}, {}, nil, {0, 1, 2, 3, 4, 5, 6}} {
			dst := act(b, T, make([]float32, T*out))
			for i := range dst.(*activation).data {
				dst.(*activation).data[i] = mark
			}
			if err := b.Run(ctx, ids, 0, func(o engine.Ops) { o.(engine.RowOps).MatMulRows(dst, x, w.t, rows) }); err != nil {
				t.Fatalf("%s rows %v: %v", w.name, rows, err)
			}
			got := dst.(*activation).data
			for r := range T {
				g, wr := got[r*out:(r+1)*out], want[r*out:(r+1)*out]
				switch {
				case slices.Contains(rows, r) && !slices.Equal(g, wr):
					t.Errorf("%s rows %v: row %d differs from MatMul's", w.name, rows, r)
				case !slices.Contains(rows, r) && slices.ContainsFunc(g, func(v float32) bool { return v != mark }):
					t.Errorf("%s rows %v: row %d, not listed, was written", w.name, rows, r)
				}
			}
		}
		last := act(b, T, make([]float32, T*out))
		if err := b.Run(ctx, ids, 0, func(o engine.Ops) { o.(engine.LastRowOps).MatMulLast(last, x, w.t) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(last.(*activation).data[(T-1)*out:], want[(T-1)*out:]) {
			t.Errorf("%s: MatMulLast's row differs from MatMul's", w.name)
		}
	}
	for _, rows := range [][]int{{-1}, {7}, {3, 2}, {2, 2}} {
		dst := act(b, T, make([]float32, T*out))
		err := b.Run(ctx, ids, 0, func(o engine.Ops) { o.(engine.RowOps).MatMulRows(dst, x, dw, rows) })
		if err == nil || !strings.Contains(err.Error(), "ascending, each once") {
			t.Errorf("rows %v: %v, want an error", rows, err)
		}
	}
}
