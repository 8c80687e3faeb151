//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// Benchmarks on synthetic LLaMA shapes whose weights are generated on the device
// (random packed words, scales in [0.001, 0.002)), so no checkpoint is needed:
//
//	go test -c -tags cuda -o cuda.test ./engine/backend/cuda
//	./cuda.test -test.run '^$' -test.bench . -test.benchtime 20x

type llamaShape struct {
	name                         string
	hidden, inter, layers, heads int
}

var (
	llama7B  = llamaShape{"7B", 4096, 11008, 32, 32}
	llama65B = llamaShape{"65B", 8192, 22016, 80, 64}
)

// randomPerm uploads a random act-order permutation of in rows (as LoadQuant does:
// one copy of each), seeded by seed.
func randomPerm(tb testing.TB, b *Backend, in int, seed uint32) cu.DevicePtr {
	tb.Helper()
	perm := make([]int32, in)
	for i, p := range rand.New(rand.NewPCG(uint64(seed), 2)).Perm(in) {
		perm[i] = int32(p)
	}
	var p cu.DevicePtr
	err := b.th.Do(ctx, func() (err error) {
		p, err = b.uploadPerm("random", perm)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// randomQuant makes a bits-bit in×out layer (groups of group rows) filled on the device;
// with a permutation (randomPerm; 0 for none) its rows come from it, as a checkpoint
// with act-order groups has after loading.
func randomQuant(tb testing.TB, b *Backend, in, out, bits, group int, seed uint32, perm cu.DevicePtr) engine.Tensor {
	tb.Helper()
	groups := in / group
	cgroup := make([]int32, in/32)
	for c := range cgroup {
		cgroup[c] = int32(c * 32 / group)
	}
	t := &tensor{rows: in, cols: out, kind: quantized, q: &quant{bits: bits, zeroOffset: 1, quadGroups: quadGroups(cgroup), perm: perm}}
	err := b.th.Do(ctx, func() error {
		var err error
		fill := func(p *cu.DevicePtr, what, kernel string, n int64) {
			if err != nil {
				return
			}
			elem := int64(4)
			if kernel == "fill_scales" {
				elem = 2
			}
			if *p, err = b.dev.alloc(what, n*elem); err == nil {
				err = b.dev.launch(kernel, [3]int{1024, 1, 1}, 256, 0, *p, uint64(n), seed)
				seed++
			}
		}
		fill(&t.p, "qweight", "fill_random", int64(in*bits/32)*int64(out))
		fill(&t.q.qzeros, "qzeros", "fill_random", int64(groups*out*bits/32))
		fill(&t.q.scales, "scales", "fill_scales", int64(groups*out))
		if err != nil {
			return err
		}
		t.q.cgroup, err = b.allocUpload("chunk groups", int32Bytes(cgroup))
		if err != nil {
			return err
		}
		return b.dev.sync("fill")
	})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func weightBytes(in, out, bits, group int) int64 {
	groups := int64(in / group)
	return int64(in)*int64(out)*int64(bits)/8 + groups*int64(out)*2 + groups*int64(out)*int64(bits)/8
}

// timeRuns runs step as a batch from position start twice (a warm-up, then the
// graph's capture), then once per b.Loop with the device synchronized after each,
// and returns the seconds of one timed run.
func timeRuns(b *testing.B, be *Backend, batch []int32, start int, step func(engine.Ops)) float64 {
	be.Run(ctx, batch, start, step)
	be.Run(ctx, batch, start, step)
	syncB(b, be)
	for b.Loop() {
		if err := be.Run(ctx, batch, start, step); err != nil {
			b.Fatal(err)
		}
		syncB(b, be)
	}
	return b.Elapsed().Seconds() / float64(b.N)
}

func syncB(b *testing.B, be *Backend) {
	if err := be.th.Do(ctx, func() error { return be.dev.sync("benchmark") }); err != nil {
		b.Fatal(err)
	}
}

// linearCase is one of a LLaMA layer's decode launches: n products of one input of
// in×out weights, followed by the residual add when add is set.
type linearCase struct {
	name    string
	in, out int
	n       int  // weights of the same input
	add     bool // followed by the residual add
}

// linearCases are the layer's launches of shape s: q/k/v, o then the residual add,
// gate/up, down then the residual add.
func linearCases(s llamaShape) []linearCase {
	return []linearCase{{"qkv", s.hidden, s.hidden, 3, false}, {"o_add", s.hidden, s.hidden, 1, true},
		{"gate_up", s.hidden, s.inter, 2, false}, {"down_add", s.inter, s.hidden, 1, true}}
}

// quantizations are the six 65B checkpoints the benchmarks time (group 0: none), the
// seed's branches: all act-order, so the grouped ones have their rows permuted (with
// one group, act-order leaves g_idx all zeros and the rows in order).
var quantizations = []struct {
	name     string
	bits     int
	group    int
	actOrder bool
}{{"4bit-nogroup", 4, 0, false}, {"4bit-32g-actorder", 4, 32, true}, {"4bit-64g-actorder", 4, 64, true},
	{"4bit-128g-actorder", 4, 128, true}, {"3bit-nogroup", 3, 0, false}, {"3bit-128g-actorder", 3, 128, true}}

// BenchmarkLinear times the quantized linear layers of one LLaMA layer at batch 1
// (decode) and 512 (prompt), rotating over enough copies of the weights that each
// read comes from device memory rather than the 50 MB L2. Decode runs the products as
// llama.Model issues them: q/k/v of one input, o then the residual add, gate/up of one
// input, down then the residual add (one launch each on the fast kernels, fast=true;
// separate launches and clears on the generic kernel, fast=false).
func BenchmarkLinear(b *testing.B) {
	const group = 128
	for _, bits := range []int{4, 3} {
		for _, s := range []llamaShape{llama7B, llama65B} {
			if bits == 3 && s.name == "7B" {
				continue
			}
			for _, l := range linearCases(s) {
				for _, v := range []struct {
					rows           int
					fast, actOrder bool
				}{{1, true, false}, {1, false, false}, {512, true, false}, {512, false, false}, {512, true, true}, {512, false, true}} {
					rows := v.rows
					if rows > 1 && (s.name != "65B" || l.add) {
						continue
					}
					b.Run(fmt.Sprintf("%dbit/%s/%s/rows=%d/fast=%v/actorder=%v", bits, s.name, l.name, rows, v.fast, v.actOrder), func(b *testing.B) {
						defer func(f, g bool) { fastMatvec, fastGemm = f, g }(fastMatvec, fastGemm)
						fastMatvec, fastGemm = v.fast, v.fast
						benchLinear(b, s, l, bits, group, v.actOrder, rows)
					})
				}
			}
		}
	}
}

// BenchmarkDecodeLinear times LLaMA-65B's four decode launches at one row
// (gptq_mvq3/gptq_mv4), launched as usual and early (early=false|true, oneRowEarly),
// on the six quantizations of BenchmarkBatch, as BenchmarkLinear does, both on the
// same weights; GB/s counts weights, scales and zeros. Beside them, read=N KB reads
// as many bytes with read_probe (benchRead), N KB in flight a multiprocessor: what a
// launch of that size can reach.
//
//	./cuda.test -test.run '^$' -test.bench DecodeLinear -test.benchtime 10x
func BenchmarkDecodeLinear(b *testing.B) {
	for _, q := range quantizations {
		for _, l := range linearCases(llama65B) {
			b.Run(fmt.Sprintf("%s/%s", q.name, l.name), func(b *testing.B) {
				group := q.group
				if group == 0 {
					group = l.in
				}
				lr := linearSetup(b, llama65B, l, q.bits, group, q.actOrder, 1)
				for _, early := range []bool{false, true} {
					b.Run(fmt.Sprintf("early=%v", early), func(b *testing.B) {
						defer func(e bool) { oneRowEarly = e }(oneRowEarly)
						oneRowEarly = early
						lr.time(b)
					})
				}
				for _, perSM := range []int{1, 4} {
					b.Run(fmt.Sprintf("read=%dKB", 32*perSM), func(b *testing.B) { benchRead(b, lr.be, lr.wb, perSM) })
				}
			})
		}
	}
}

// benchRead times read_probe (kernels/probe.cu) over n bytes, perSM blocks of 256
// threads on each multiprocessor (32 KB in flight each), rotating over copies as
// linearSetup does, and reports µs per launch and GB/s.
func benchRead(b *testing.B, be *Backend, n int64, perSM int) {
	words, copies := ceil(int(n), 16), linearCopies(n)
	bufs := make([]cu.DevicePtr, copies)
	var sink cu.DevicePtr
	err := be.th.Do(ctx, func() (err error) {
		for i := range bufs {
			if bufs[i], err = be.dev.alloc("read probe", int64(words)*16); err != nil {
				return err
			}
		}
		sink, err = be.dev.alloc("read probe sink", 16)
		return err
	})
	b.Cleanup(func() {
		be.th.Do(ctx, func() error {
			for _, p := range append(bufs, sink) {
				be.dev.free(p)
			}
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	reps := ceil(64, copies)
	step := func(o engine.Ops) {
		for range reps {
			for _, p := range bufs {
				o.(ops).launch("read_probe", [3]int{perSM * be.dev.sms, 1, 1}, 256, 0, p, uint64(words), sink)
			}
		}
	}
	sec := timeRuns(b, be, []int32{0}, 0, step) / float64(copies*reps)
	b.ReportMetric(sec*1e6, "us/op")
	b.ReportMetric(float64(n)/sec/1e9, "GB/s")
}

// benchLinear times launch l of shape s at rows rows (bits-bit weights in groups of
// group rows), reporting µs per launch, GB/s of weights and TFLOP/s.
func benchLinear(b *testing.B, s llamaShape, l linearCase, bits, group int, actOrder bool, rows int) {
	linearSetup(b, s, l, bits, group, actOrder, rows).time(b)
}

// linearRun is launch l of rows rows on a backend: wb bytes of weights a copy, and a
// step that issues the products of every copy, launches in all.
type linearRun struct {
	be             *Backend
	l              linearCase
	rows, launches int
	wb             int64
	step           func(engine.Ops)
}

// linearSetup makes the weights of launch l on a fresh backend, in enough copies that
// each read comes from device memory rather than the 50 MB L2, and a step of at least
// 64 launches, so that the host's round trip and the final wait (~150 µs a Run) are
// spread thin.
func linearSetup(b *testing.B, s llamaShape, l linearCase, bits, group int, actOrder bool, rows int) linearRun {
	be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: 1, Heads: s.heads, KVHeads: s.heads,
		HeadDim: 128, Vocab: 32000, Context: 2048, MaxBatch: 512})
	wb := int64(l.n) * weightBytes(l.in, l.out, bits, group)
	copies := linearCopies(wb)
	ws := make([][]engine.Tensor, copies)
	for i := range ws {
		var perm cu.DevicePtr // one for the layers of one input, as in a checkpoint (LoadQuant)
		if actOrder {
			perm = randomPerm(b, be, l.in, uint32(7*i*3))
		}
		for j := range l.n {
			ws[i] = append(ws[i], randomQuant(b, be, l.in, l.out, bits, group, uint32(7*(i*3+j)), perm))
		}
	}
	x, _ := be.NewActivation(ctx, rows, l.in)
	res, _ := be.NewActivation(ctx, rows, l.out)
	ys := make([]engine.Tensor, l.n)
	for j := range ys {
		ys[j], _ = be.NewActivation(ctx, rows, l.out)
	}
	reps := ceil(64, copies)
	step := func(o engine.Ops) {
		for range reps {
			for _, w := range ws {
				for j, wj := range w {
					o.MatMul(ys[j], x, wj)
				}
				if l.add {
					o.Add(res, res, ys[0])
				}
			}
		}
	}
	return linearRun{be: be, l: l, rows: rows, launches: copies * reps, wb: wb, step: step}
}

// linearCopies is how many copies of n bytes of weights a benchmark rotates over:
// 512 MB, ten times the L2, and at least eight.
func linearCopies(n int64) int { return int(max(8, 512<<20/n)) }

// time reports µs per launch, GB/s of weights and TFLOP/s.
func (r linearRun) time(b *testing.B) {
	sec := timeRuns(b, r.be, make([]int32, r.rows), 0, r.step) / float64(r.launches)
	b.ReportMetric(sec*1e6, "us/op")
	b.ReportMetric(float64(r.wb)/sec/1e9, "GB/s")
	b.ReportMetric(2*float64(r.rows*r.l.n)*float64(r.l.in)*float64(r.l.out)/sec/1e12, "TFLOP/s")
}

// BenchmarkStep times a whole forward step of a synthetic 128g model: every layer's
// operations in the order llama.Model issues them, at batch 1 with 1024 positions
// already cached (decode) and for a 512-token prompt.
func BenchmarkStep(b *testing.B) {
	const group = 128
	for _, s := range []llamaShape{llama7B, llama65B} {
		for _, v := range []struct {
			bits, rows             int
			fast, graphs, actOrder bool
		}{{4, 1, true, true, false}, {3, 1, true, true, false}, {4, 1, true, false, false}, {4, 1, false, true, false},
			{4, 512, true, true, false}, {4, 512, true, true, true}, {3, 512, true, true, true}, {4, 512, false, true, false}, {4, 512, false, true, true}} {
			bits, rows, graphs := v.bits, v.rows, v.graphs
			if s.name == "7B" && !(v.fast && v.graphs && !v.actOrder) {
				continue
			}
			b.Run(fmt.Sprintf("%s/%dbit/rows=%d/fast=%v/graphs=%v/actorder=%v", s.name, bits, rows, v.fast, graphs, v.actOrder), func(b *testing.B) {
				defer func(f, g, a bool) { fastMatvec, fastGemm, fastAttention = f, g, a }(fastMatvec, fastGemm, fastAttention)
				fastMatvec, fastGemm, fastAttention = v.fast, v.fast, v.fast
				hd := 128
				be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: s.layers, Heads: s.heads, KVHeads: s.heads,
					HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: 512})
				caches := make([]engine.Tensor, s.layers)
				for i := range caches {
					caches[i], _ = be.NewCache(ctx, s.heads, hd)
				}
				model, total, _ := randomModel(b, be, s, bits, group, v.actOrder, caches)
				step := func(o engine.Ops) { model(o, true) }
				batch := make([]int32, rows)
				start := 1024
				if rows > 1 {
					start = 0
				}
				be.noGraphs = !graphs
				sec := timeRuns(b, be, batch, start, step)
				b.ReportMetric(sec*1e3, "ms/step")
				b.ReportMetric(float64(rows)/sec, "tok/s")
				if rows == 1 {
					b.ReportMetric(float64(total)/sec/1e9, "GB/s")
				}
			})
		}
	}
}

// randomModel builds a synthetic LLaMA of shape s on be (random weights, see
// randomQuant; group 0 is one group per layer input) with caches as its layers' KV
// caches, and returns the step issuing its operations as llama.Model does, on
// activations of be's MaxBatch rows (with attend false, only the linear layers, norms
// and adds, no RoPE or attention), the bytes of weights one step reads, and the
// logits the step writes.
func randomModel(tb testing.TB, be *Backend, s llamaShape, bits, group int, actOrder bool, caches []engine.Tensor) (func(o engine.Ops, attend bool), int64, engine.Tensor) {
	type layer struct{ q, k, v, o, gate, up, down engine.Tensor }
	ls := make([]layer, s.layers)
	var total int64
	const hd = 128
	for i := range ls {
		seed := uint32(i * 16)
		// With act-order the layers of one input share their permutation, as GPTQ's
		// do (LoadQuant): q, k and v; gate and up.
		perm := func(in int, seed uint32) cu.DevicePtr {
			if !actOrder {
				return 0
			}
			return randomPerm(tb, be, in, seed)
		}
		attn, o, mlp, down := perm(s.hidden, seed), perm(s.hidden, seed+9), perm(s.hidden, seed+12), perm(s.inter, seed+18)
		rq := func(in, out int, seed uint32, p cu.DevicePtr) engine.Tensor {
			g := group
			if g == 0 {
				g = in
			}
			total += weightBytes(in, out, bits, g)
			if !sharedPerms {
				p = perm(in, seed)
			}
			return randomQuant(tb, be, in, out, bits, g, seed, p)
		}
		ls[i] = layer{
			q: rq(s.hidden, s.hidden, seed, attn), k: rq(s.hidden, s.hidden, seed+3, attn), v: rq(s.hidden, s.hidden, seed+6, attn),
			o:    rq(s.hidden, s.hidden, seed+9, o),
			gate: rq(s.hidden, s.inter, seed+12, mlp), up: rq(s.hidden, s.inter, seed+15, mlp), down: rq(s.inter, s.hidden, seed+18, down),
		}
	}
	norm := randomDense(tb, be, 1, s.hidden)
	head := randomDense(tb, be, 32000, s.hidden)
	table := randomDense(tb, be, 32000, s.hidden)
	total += 2 * 32000 * int64(s.hidden) // lm_head read once per step
	act := func(cols int) engine.Tensor { a, _ := be.NewActivation(ctx, be.shape.MaxBatch, cols); return a }
	x, h, q, k, v, att, gate, up, logits := act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.inter), act(s.inter), act(32000)
	return func(o engine.Ops, attend bool) {
		o.Embed(x, table)
		for i, l := range ls {
			o.RMSNorm(h, x, norm, 1e-5)
			o.MatMul(q, h, l.q)
			o.MatMul(k, h, l.k)
			o.MatMul(v, h, l.v)
			if attend {
				o.RoPE(q, hd, 10000)
				o.RoPE(k, hd, 10000)
				o.Attention(att, q, k, v, caches[i])
			}
			o.MatMul(h, att, l.o)
			o.Add(x, x, h)
			o.RMSNorm(h, x, norm, 1e-5)
			o.MatMul(gate, h, l.gate)
			o.MatMul(up, h, l.up)
			o.SiLUMul(gate, gate, up)
			o.MatMul(h, gate, l.down)
			o.Add(x, x, h)
		}
		o.RMSNorm(h, x, norm, 1e-5)
		if lastHead {
			o.(engine.LastRowOps).MatMulLast(logits, h, head)
			return
		}
		o.MatMul(logits, h, head)
	}, total, logits
}

// lastHead makes randomModel's step run the output layer on the last row alone, as
// llama.Model's steps do for a prompt fed to pick the next token (engine.LastRowOps).
var lastHead bool

// streamFromEnv runs every prompt product a tile a block, none streamed, for the
// length of a benchmark when $AGENT_STREAM is "off".
func streamFromEnv(tb testing.TB) {
	if !envIs(tb, "AGENT_STREAM", "off") {
		return
	}
	a := streamAt
	tb.Cleanup(func() { streamAt = a })
	streamAt = -1
	tb.Logf("prompt products a tile a block, none streamed")
}

// envIs reports whether $name is value, and fails tb on any other value but none.
func envIs(tb testing.TB, name, value string) bool {
	switch v := os.Getenv(name); v {
	case "":
		return false
	case value:
		return true
	default:
		tb.Fatalf("%s: %q is not %s", name, v, value)
		return false
	}
}

// headFromEnv sets lastHead for the length of a benchmark: on unless $AGENT_HEAD is
// "all", so that one device call can time whole prompts both ways.
func headFromEnv(tb testing.TB) {
	h := lastHead
	tb.Cleanup(func() { lastHead = h })
	lastHead = os.Getenv("AGENT_HEAD") != "all"
	tb.Logf("output layer on the last row alone: %v", lastHead)
}

func randomDense(tb testing.TB, b *Backend, rows, cols int) engine.Tensor {
	tb.Helper()
	t := &tensor{rows: rows, cols: cols, kind: dense}
	err := b.th.Do(ctx, func() error {
		var err error
		if t.p, err = b.dev.alloc("dense", int64(rows*cols)*2); err != nil {
			return err
		}
		if err = b.dev.launch("fill_scales", [3]int{1024, 1, 1}, 256, 0, t.p, uint64(rows*cols), uint32(rows)); err != nil {
			return err
		}
		return b.dev.sync("fill")
	})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkOps times the operations around the linear layers at 65B's decode shape
// (batch 1, 1024 positions cached), 100 launches per Run.
func BenchmarkOps(b *testing.B) {
	const hidden, heads, hd, inter = 8192, 64, 128, 22016
	be := open(b, engine.Shape{Hidden: hidden, Intermediate: inter, Layers: 1, Heads: heads, KVHeads: heads,
		HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: 1})
	act := func(cols int) engine.Tensor { a, _ := be.NewActivation(ctx, 1, cols); return a }
	x, h, q, k, v, att, gate, up := act(hidden), act(hidden), act(hidden), act(hidden), act(hidden), act(hidden), act(inter), act(inter)
	cache, _ := be.NewCache(ctx, heads, hd)
	norm := randomDense(b, be, 1, hidden)
	for _, op := range []struct {
		name string
		fn   func(o engine.Ops)
	}{
		{"rmsnorm", func(o engine.Ops) { o.RMSNorm(h, x, norm, 1e-5) }},
		{"rope", func(o engine.Ops) { o.RoPE(q, hd, 10000) }},
		{"attention", func(o engine.Ops) { o.Attention(att, q, k, v, cache) }},
		{"silu", func(o engine.Ops) { o.SiLUMul(gate, gate, up) }},
		{"add", func(o engine.Ops) { o.Add(x, x, h) }},
	} {
		b.Run(op.name, func(b *testing.B) {
			step := func(o engine.Ops) {
				for range 100 {
					op.fn(o)
				}
			}
			b.ReportMetric(timeRuns(b, be, []int32{1}, 1024, step)/100*1e6, "us/op")
		})
	}
}

// BenchmarkPrefillOps times the operations around the linear layers for a prompt at
// 65B's shapes: T rows from position 0 (attention is causal over T×T; attention_split
// is the float32 kernel that decoding uses), 10 launches per Run.
func BenchmarkPrefillOps(b *testing.B) {
	const hidden, heads, hd, inter = 8192, 64, 128, 22016
	for _, rows := range []int{512, 2048} {
		be := open(b, engine.Shape{Hidden: hidden, Intermediate: inter, Layers: 1, Heads: heads, KVHeads: heads,
			HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: rows})
		act := func(cols int) engine.Tensor {
			a, _ := be.NewActivation(ctx, rows, cols)
			fillAct(b, be, a)
			return a
		}
		x, h, q, k, v, att, gate, up := act(hidden), act(hidden), act(hidden), act(hidden), act(hidden), act(hidden), act(inter), act(inter)
		cache, _ := be.NewCache(ctx, heads, hd)
		norm := randomDense(b, be, 1, hidden)
		for _, op := range []struct {
			name string
			fn   func(o engine.Ops)
		}{
			{"rmsnorm", func(o engine.Ops) { o.RMSNorm(h, x, norm, 1e-5) }},
			{"rope", func(o engine.Ops) { o.RoPE(q, hd, 10000) }},
			{"attention", func(o engine.Ops) { o.Attention(att, q, k, v, cache) }},
			{"attention_split", func(o engine.Ops) { o.Attention(att, q, k, v, cache) }},
			{"silu", func(o engine.Ops) { o.SiLUMul(gate, gate, up) }},
			{"add", func(o engine.Ops) { o.Add(x, x, h) }},
		} {
			b.Run(fmt.Sprintf("%s/rows=%d", op.name, rows), func(b *testing.B) {
				defer func(a bool) { fastAttention = a }(fastAttention)
				fastAttention = op.name != "attention_split"
				step := func(o engine.Ops) {
					for range 10 {
						op.fn(o)
					}
				}
				batch := make([]int32, rows)
				b.ReportMetric(timeRuns(b, be, batch, 0, step)/10*1e6, "us/op")
			})
		}
	}
}

// BenchmarkVerifyAttention times attention for a speculative step's few rows
// (1 to 17) after 512 cached positions, at 65B's heads (64 of 128) and
// rewoo-tiny's (4 of 64), on attention_split (the float32 decode kernel, what
// such steps take while rows×heads is at most splitPairsPerSM per
// multiprocessor) and on attention_prompt (tensor cores, a block per head and
// 64 rows), 10 launches per Run.
//
//	./cuda.test -test.run '^$' -test.bench VerifyAttention -test.benchtime 20x
func BenchmarkVerifyAttention(b *testing.B) {
	const pos = 512
	for _, sh := range []struct {
		name      string
		heads, hd int
	}{{"65B", 64, 128}, {"rewoo-tiny", 4, 64}} {
		hidden := sh.heads * sh.hd
		be := open(b, engine.Shape{Hidden: hidden, Intermediate: hidden, Layers: 1, Heads: sh.heads, KVHeads: sh.heads,
			HeadDim: sh.hd, Vocab: 32000, Context: 1024, MaxBatch: 17})
		act := func(cols int) engine.Tensor {
			a, _ := be.NewActivation(ctx, 17, cols)
			fillAct(b, be, a)
			return a
		}
		q, k, v, att := act(hidden), act(hidden), act(hidden), act(hidden)
		cache, _ := be.NewCache(ctx, sh.heads, sh.hd)
		// Finite keys and values at every cached position.
		for start := 0; start < pos; start += 17 {
			if err := be.Run(ctx, make([]int32, 17), start, func(o engine.Ops) { o.Attention(att, q, k, v, cache) }); err != nil {
				b.Fatal(err)
			}
		}
		for _, rows := range []int{1, 2, 3, 5, 9, 17} {
			for _, kernel := range []string{"split", "prompt"} {
				if rows == 1 && kernel == "prompt" {
					continue
				}
				b.Run(fmt.Sprintf("%s/rows=%d/%s", sh.name, rows, kernel), func(b *testing.B) {
					defer func(a bool, p int) { fastAttention, splitPairsPerSM = a, p }(fastAttention, splitPairsPerSM)
					fastAttention = kernel == "prompt"
					splitPairsPerSM = 0
					step := func(o engine.Ops) {
						for range 10 {
							o.Attention(att, q, k, v, cache)
						}
					}
					b.ReportMetric(timeRuns(b, be, make([]int32, rows), pos, step)/10*1e6, "us/op")
				})
			}
		}
	}
}

// BenchmarkVerifyStep times whole steps of a speculative step's few rows (1 to 9)
// after 512 cached positions on a random model of rewoo-tiny's size (hidden 256,
// intermediate 768, 8 layers; 2 heads of 128 where it has 4 of 64, since
// randomModel's heads are 128 wide), 4-bit in groups of 64 with act-order as it
// is: the whole step (attention by splitPairsPerSM's rule, the products by
// tcFills'), the step with attention_prompt from two rows, the step with the
// products on the tensor cores (tcUnderfill), the step without RoPE and
// attention (products by the rule, and on the tensor cores), and the lm_head
// alone, so the rows' extra cost can be told apart.
//
//	./cuda.test -test.run '^$' -test.bench VerifyStep -test.benchtime 50x
func BenchmarkVerifyStep(b *testing.B) {
	s := llamaShape{"tiny", 256, 768, 8, 2}
	const hd, pos = 128, 512
	be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: s.layers, Heads: s.heads, KVHeads: s.heads,
		HeadDim: hd, Vocab: 32000, Context: 1024, MaxBatch: 16})
	caches := make([]engine.Tensor, s.layers)
	for i := range caches {
		caches[i], _ = be.NewCache(ctx, s.heads, hd)
	}
	model, _, _ := randomModel(b, be, s, 4, 64, true, caches)
	for start := 0; start < pos; start += 16 {
		if err := be.Run(ctx, make([]int32, 16), start, func(o engine.Ops) { model(o, true) }); err != nil {
			b.Fatal(err)
		}
	}
	head := randomDense(b, be, 32000, s.hidden)
	h, _ := be.NewActivation(ctx, 16, s.hidden)
	logits, _ := be.NewActivation(ctx, 16, 32000)
	for _, rows := range []int{1, 2, 3, 5, 9} {
		for _, part := range []struct {
			name string
			fn   func(o engine.Ops)
		}{
			{"step", func(o engine.Ops) { model(o, true) }},
			{"step-attention_prompt", func(o engine.Ops) { model(o, true) }},
			{"step-tensorcores", func(o engine.Ops) { model(o, true) }},
			{"linears", func(o engine.Ops) { model(o, false) }},
			{"linears-tensorcores", func(o engine.Ops) { model(o, false) }},
			{"lm_head", func(o engine.Ops) { o.MatMul(logits, h, head) }},
		} {
			if rows == 1 && part.name != "step" && part.name != "linears" && part.name != "lm_head" {
				continue
			}
			b.Run(fmt.Sprintf("rows=%d/%s", rows, part.name), func(b *testing.B) {
				defer func(p int, u bool) { splitPairsPerSM, tcUnderfill = p, u }(splitPairsPerSM, tcUnderfill)
				if part.name == "step-attention_prompt" {
					splitPairsPerSM = 0
				}
				tcUnderfill = strings.HasSuffix(part.name, "-tensorcores")
				b.ReportMetric(timeRuns(b, be, make([]int32, rows), pos, part.fn)*1e6, "us/step")
			})
		}
	}
}

// fillAct fills an activation with standard normal values (fixed seed), so nothing is
// timed on zeros.
func fillAct(tb testing.TB, b *Backend, a engine.Tensor) {
	tb.Helper()
	t := a.(*tensor)
	n := t.rows * t.cols
	v := make([]float32, n)
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	err := b.th.Do(ctx, func() error {
		return cu.MemcpyHtoD(t.p, unsafe.Pointer(&v[0]), int64(4*n))
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPrefill times prompts of 512 and 1920 tokens on random LLaMA-65B weights
// of each seed branch's quantization, fed as llama.Model feeds them: Runs of at most
// batch rows (its MaxBatch: 256, 512, 1024 or 1920; from longRowsMin rows on
// longBuild) from position 0 on, each through all 80
// layers (RoPE, attention and the KV store included) and the lm_head on the last row
// (lastHead), the last row's logits then copied to the host. tok/s is prompt tokens over that
// time.
// $AGENT_PREFILL_QUANTS, when set, is a regular expression the quantizations' names
// must match; $AGENT_WS names the prompt kernel (wsFromEnv), $AGENT_GATHER=old the
// gathers as before (gatherFromEnv), $AGENT_HEAD=all the lm_head on every row
// (headFromEnv), $AGENT_STREAM=off no product streamed (streamFromEnv),
// $AGENT_LONG_ROWS longRowsMin (longFromEnv).
//
//	./cuda.test -test.run '^$' -test.bench Prefill -test.benchtime 3x
func BenchmarkPrefill(b *testing.B) {
	s := llama65B
	const hd = 128
	for _, q := range quantizations {
		if re := os.Getenv("AGENT_PREFILL_QUANTS"); re != "" && !regexp.MustCompile(re).MatchString(q.name) {
			continue
		}
		b.Run(q.name, func(b *testing.B) {
			longFromEnv(b)
			be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: s.layers, Heads: s.heads, KVHeads: s.heads,
				HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: 2048})
			wsFromEnv(b)
			streamFromEnv(b)
			gatherFromEnv(b)
			headFromEnv(b)
			caches := make([]engine.Tensor, s.layers)
			for i := range caches {
				var err error
				if caches[i], err = be.NewCache(ctx, s.heads, hd); err != nil {
					b.Fatal(err)
				}
			}
			model, _, out := randomModel(b, be, s, q.bits, q.group, q.actOrder, caches)
			step := func(o engine.Ops) { model(o, true) }
			logits := make([]float32, 32000)
			for _, c := range []struct{ prompt, chunk int }{{512, 256}, {512, 512}, {1920, 256}, {1920, 512}, {1920, 1024}, {1920, 1920}} {
				prompt, chunk := c.prompt, c.chunk
				b.Run(fmt.Sprintf("prompt=%d/batch=%d", prompt, chunk), func(b *testing.B) {
					run := func() error {
						var last int
						for from := 0; from < prompt; from += chunk {
							ids := make([]int32, min(chunk, prompt-from))
							if err := be.Run(ctx, ids, from, step); err != nil {
								return err
							}
							last = len(ids) - 1
						}
						return be.Read(ctx, logits, out, last, 1)
					}
					for range 2 { // warm up, then capture the graphs
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					for b.Loop() {
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(sec*1e3, "ms/prompt")
					b.ReportMetric(float64(prompt)/sec, "tok/s")
				})
			}
		})
	}
}

// BenchmarkPrompt times one prompt product of LLaMA-65B (q, gate and down: 8192×8192,
// 8192×22016 and 22016×8192; 4 and 3 bits, 128g act-order: the gather and the
// product, as MatMul issues them) on every prompt kernel the device has
// (promptKernels; gptq_wr at each tile height, wrBuilds) at 256, 384, 512, 1024, 1536
// and 1920 rows, two copies of the weights in turn, and on longBuild (forced at every row
// count); $AGENT_STREAM=off streams none (streamFromEnv).
//
//	./cuda.test -test.run '^$' -test.bench Prompt -test.benchtime 3x
func BenchmarkPrompt(b *testing.B) {
	streamFromEnv(b)
	s := llama65B
	const maxRows = 1920
	for _, bits := range []int{4, 3} {
		be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: 1, Heads: s.heads, KVHeads: s.heads,
			HeadDim: 128, Vocab: 32000, Context: 2048, MaxBatch: maxRows})
		for _, l := range []struct {
			name    string
			in, out int
		}{{"q", s.hidden, s.hidden}, {"gate", s.hidden, s.inter}, {"down", s.inter, s.hidden}} {
			ws := []engine.Tensor{randomQuant(b, be, l.in, l.out, bits, 128, 11, randomPerm(b, be, l.in, 11)),
				randomQuant(b, be, l.in, l.out, bits, 128, 23, randomPerm(b, be, l.in, 23))}
			x, _ := be.NewActivation(ctx, maxRows, l.in)
			fillAct(b, be, x)
			y, _ := be.NewActivation(ctx, maxRows, l.out)
			for _, rows := range []int{256, 384, 512, 1024, 1536, maxRows} {
				builds := promptBuilds(be, bits)
				if be.longW != 0 {
					builds = append(builds, longBuild)
				}
				for _, k := range builds {
					b.Run(fmt.Sprintf("%dbit/%s/rows=%d/%s", bits, l.name, rows, buildName(k)), func(b *testing.B) {
						defer setPromptKernel(k)()
						reps := ceil(8*maxRows, rows)
						step := func(o engine.Ops) {
							for i := range reps {
								o.MatMul(y, x, ws[i%2])
							}
						}
						batch := make([]int32, rows)
						sec := timeRuns(b, be, batch, 0, step) / float64(reps)
						b.ReportMetric(sec*1e6, "us/op")
						b.ReportMetric(2*float64(rows)*float64(l.in)*float64(l.out)/sec/1e12, "TFLOP/s")
					})
				}
			}
		}
	}
}

// wsFromEnv sets the prompt kernel for the length of a benchmark from $AGENT_WS, a kind
// (gptq_mm, gptq_ws or gptq_wr: promptForce), and gptq_wr's tile height from
// $AGENT_WR_ROWS (wrRowsForce), so that one device call can time whole prompts on
// each.
func wsFromEnv(tb testing.TB) {
	if v := os.Getenv("AGENT_WR_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.ContainsFunc(wrBuilds, func(k mmKernel) bool { return k.rows == n }) {
			tb.Fatalf("AGENT_WR_ROWS: %q is not a gptq_wr tile height", v)
		}
		r := wrRowsForce
		tb.Cleanup(func() { wrRowsForce = r })
		wrRowsForce = n
		tb.Logf("gptq_wr tiles of %d rows", n)
	}
	v := os.Getenv("AGENT_WS")
	if v == "" {
		return
	}
	if !slices.Contains([]string{mmBuild.kind, wsBuild.kind, wrBuild.kind}, v) {
		tb.Fatalf("AGENT_WS: no prompt kernel %q", v)
	}
	tb.Cleanup(setPromptKernel(mmKernel{kind: v}))
	tb.Logf("prompt products on %s where the device has it", v)
}

// longFromEnv sets longRowsMin for the length of a benchmark from $AGENT_LONG_ROWS
// (a row count; past the benchmark's MaxBatch no step is long and the backend holds
// no longW), so that one device call can time whole prompts with long steps and
// without. It must run before the backend is opened.
func longFromEnv(tb testing.TB) {
	v := os.Getenv("AGENT_LONG_ROWS")
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("AGENT_LONG_ROWS: %q is not a row count", v)
	}
	m := longRowsMin
	tb.Cleanup(func() { longRowsMin = m })
	longRowsMin = n
	tb.Logf("long prompt steps from %d rows", n)
}

// gatherFromEnv restores, for the length of a benchmark, the prompt gathers as they
// were before gather_staged and gatherInput's reuse when $AGENT_GATHER is "old": each
// product gathers its own input from global memory, and randomModel gives every
// act-order layer its own permutation (sharedPerms false), so that one device call
// can time whole models both ways.
func gatherFromEnv(tb testing.TB) {
	if !envIs(tb, "AGENT_GATHER", "old") {
		return
	}
	s, r, p := stagedGather, reuseGather, sharedPerms
	tb.Cleanup(func() { stagedGather, reuseGather, sharedPerms = s, r, p })
	stagedGather, reuseGather, sharedPerms = false, false, false
	tb.Logf("prompt gathers as before: from global memory, one a product, a permutation a layer")
}

// sharedPerms gives randomModel's layers of one input one act-order permutation.
var sharedPerms = true

// earlyFromEnv sets oneRowEarly for the length of a test or benchmark from
// $AGENT_EARLY (1 or 0), so that one device call can run whole models and steps both
// ways.
func earlyFromEnv(tb testing.TB) {
	v := os.Getenv("AGENT_EARLY")
	if v == "" {
		return
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		tb.Fatalf("AGENT_EARLY: %v", err)
	}
	e := oneRowEarly
	tb.Cleanup(func() { oneRowEarly = e })
	oneRowEarly = on
	tb.Logf("one-row products launched early: %v", on)
}

// BenchmarkBatch times engine/batch's steps on random LLaMA-65B weights for each
// quantization of the seed branches: aggregate decode tokens per second for 1, 2, 4,
// 8, 16, 32 and 64 sequences each at position 512 of its own blocks of the paged cache (one
// RunBatch of one row per sequence, replayed as a CUDA graph), one again with its
// products launched as usual and early (decode/seqs=1/early=false|true, oneRowEarly)
// and one at position
// 1920, and the time to the
// first token of a 600-token prompt: computed whole (two chunks of 512 and 88 rows),
// and after a prefix-cache hit on its first 512 positions (the reWOO template and
// tools; 88 rows computed); and the linear layers alone at the same batches, also on
// the CUDA-core batch kernels (linears-mv, gptq_mvN_rR instead of gptq_tcN_mR). Each
// timed step ends with the device synchronized and, for the prompt, the last row's
// logits copied to the host. It needs about 130 GB of device memory (an H200).
// $AGENT_TC_DEFAULTS, when set, replaces the tensor-core defaults for its length
// (tcDefaultsFromEnv), $AGENT_EARLY oneRowEarly (earlyFromEnv), $AGENT_GATHER=old the
// gathers and permutations as they were before gather_staged (gatherFromEnv).
//
//	./cuda.test -test.run '^$' -test.bench Batch -test.benchtime 5x
//	./cuda.test -test.run '^$' -test.bench 'Batch/4bit-128g-actorder/decode' -test.benchtime 5x
func BenchmarkBatch(b *testing.B) {
	tcDefaultsFromEnv(b)
	earlyFromEnv(b)
	gatherFromEnv(b)
	s := llama65B
	const hd, bs, positions, longPos, prompt, hit, maxSeqs = 128, 16, 512, 1920, 600, 512, 64
	perSeq, perPrompt := ceil(positions+1, bs), ceil(prompt, bs)
	for _, q := range quantizations {
		b.Run(q.name, func(b *testing.B) {
			be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: s.layers, Heads: s.heads, KVHeads: s.heads,
				HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: 512})
			blocks := maxSeqs*perSeq + 2*perPrompt
			caches := make([]engine.Tensor, s.layers)
			for i := range caches {
				var err error
				if caches[i], err = be.NewPagedCache(ctx, s.heads, hd, blocks, bs); err != nil {
					b.Fatal(err)
				}
			}
			model, _, out := randomModel(b, be, s, q.bits, q.group, q.actOrder, caches)
			step := func(o engine.Ops) { model(o, true) }
			table := func(first, n int) []int32 {
				t := make([]int32, n)
				for i := range t {
					t[i] = int32(first + i)
				}
				return t
			}
			timed := func(b *testing.B, run func() error) {
				for range 2 { // warm up, then capture the graph
					if err := run(); err != nil {
						b.Fatal(err)
					}
				}
				syncB(b, be)
				for b.Loop() {
					if err := run(); err != nil {
						b.Fatal(err)
					}
					syncB(b, be)
				}
			}
			decode := func(b *testing.B, n int) {
				bt := engine.Batch{IDs: make([]int32, n), Pos: make([]int32, n), Seq: make([]int32, n)}
				for i := range n {
					bt.Pos[i], bt.Seq[i] = positions, int32(i)
					bt.Tables = append(bt.Tables, table(i*perSeq, perSeq))
				}
				timed(b, func() error { return be.RunBatch(ctx, bt, step) })
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/step")
				b.ReportMetric(float64(n)/sec, "tok/s")
			}
			for _, n := range []int{1, 2, 4, 8, 16, 32, 64} {
				b.Run(fmt.Sprintf("decode/seqs=%d", n), func(b *testing.B) { decode(b, n) })
			}
			// One sequence with its products launched as usual and early.
			for _, early := range []bool{false, true} {
				b.Run(fmt.Sprintf("decode/seqs=1/early=%v", early), func(b *testing.B) {
					defer func(e bool) { oneRowEarly = e }(oneRowEarly)
					oneRowEarly = early
					decode(b, 1)
				})
			}
			// One sequence at position longPos, the long prompt.
			b.Run(fmt.Sprintf("decode/seqs=1/pos=%d", longPos), func(b *testing.B) {
				bt := engine.Batch{IDs: []int32{0}, Pos: []int32{longPos}, Seq: []int32{0}, Tables: [][]int32{table(0, ceil(longPos+1, bs))}}
				timed(b, func() error { return be.RunBatch(ctx, bt, step) })
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/step")
				b.ReportMetric(1/sec, "tok/s")
			})
			// The linear layers alone (every layer's seven products, norms and adds),
			// as the ExLlamaV2 script times its kernel.
			for _, n := range []int{1, 4, 16, 32, 64} {
				b.Run(fmt.Sprintf("linears/rows=%d", n), func(b *testing.B) {
					ids := make([]int32, n)
					timed(b, func() error { return be.Run(ctx, ids, 0, func(o engine.Ops) { model(o, false) }) })
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(sec*1e3, "ms/step")
					b.ReportMetric(float64(n)/sec, "tok/s")
				})
			}
			// The same on the CUDA-core batch kernels (gptq_mvN_rR), for comparison.
			for _, n := range []int{4, 16, 32} {
				b.Run(fmt.Sprintf("linears-mv/rows=%d", n), func(b *testing.B) {
					defer func(m int) { tcRowsMin = m }(tcRowsMin)
					tcRowsMin = mvRowsMax + 1
					ids := make([]int32, n)
					timed(b, func() error { return be.Run(ctx, ids, 0, func(o engine.Ops) { model(o, false) }) })
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/step")
				})
			}
			logits := make([]float32, 32000)
			chunk := func(tab []int32, from, to int) engine.Batch {
				bt := engine.Batch{Tables: [][]int32{tab}}
				for p := from; p < to; p++ {
					bt.IDs, bt.Pos, bt.Seq = append(bt.IDs, int32(p%32000)), append(bt.Pos, int32(p)), append(bt.Seq, 0)
				}
				return bt
			}
			miss := table(maxSeqs*perSeq, perPrompt)
			hitTab := append(slices.Clone(miss[:hit/bs]), table(maxSeqs*perSeq+perPrompt, perPrompt)[hit/bs:]...)
			for _, c := range []struct {
				name  string
				tab   []int32
				start int
			}{{"miss", miss, 0}, {"hit", hitTab, hit}} {
				b.Run(fmt.Sprintf("ttft/prompt=%d/%s", prompt, c.name), func(b *testing.B) {
					timed(b, func() error {
						var last engine.Batch
						for from := c.start; from < prompt; from += 512 {
							last = chunk(c.tab, from, min(prompt, from+512))
							if err := be.RunBatch(ctx, last, step); err != nil {
								return err
							}
						}
						return be.Read(ctx, logits, out, len(last.IDs)-1, 1)
					})
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/ttft")
				})
			}
		})
	}
}

// BenchmarkStepParts times the operations of a decode step other than the quantized
// products, at LLaMA-65B's shapes for 1, 16 and 64 sequences each at position 512 of
// its own blocks of the paged cache (as BenchmarkBatch sets them up; keys and values
// zero), each part alone: a RunBatch issuing it count times (replayed as a CUDA graph;
// the KV caches of 8 layers in turn, so attention reads device memory, not the L2),
// then a sync. ms/step is the part's time at its count in one step of 80 layers: 2
// RMSNorms a layer and the final one, RoPE of q and k with Attention (the cache store
// included) once a layer, SiLU once a layer, the residual add twice (fused into the
// products in a real step), lm_head (float16 32000×8192) and the embedding once, and
// one Read of a row of logits per sequence, as engine/batch copies them back
// on the host path, against one SampleRows over all of them (greedy, and with a
// temperature of 1 (no rescaling, so repeated runs leave the logits finite), top-k 50,
// top-p 0.9 and a repetition penalty over 600 ids), as it samples on the device. One
// sequence at position 2047 times attention at the longest context.
//
//	./cuda.test -test.run '^$' -test.bench StepParts -test.benchtime 5x
func BenchmarkStepParts(b *testing.B) {
	s := llama65B
	const hd, bs, layers, caches = 128, 16, 80, 8
	for _, c := range []struct{ n, pos int }{{1, 512}, {16, 512}, {64, 512}, {1, 2047}} {
		n, perSeq := c.n, ceil(c.pos+1, bs)
		be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: layers, Heads: s.heads, KVHeads: s.heads,
			HeadDim: hd, Vocab: 32000, Context: 2048, MaxBatch: 64})
		kv := make([]engine.Tensor, caches)
		for i := range kv {
			var err error
			if kv[i], err = be.NewPagedCache(ctx, s.heads, hd, n*perSeq, bs); err != nil {
				b.Fatal(err)
			}
			t := kv[i].(*tensor) // zeros: finite scores
			if err := be.th.Do(ctx, func() error { return be.dev.zero(t.p, t.rows*t.cols) }); err != nil {
				b.Fatal(err)
			}
		}
		bt := engine.Batch{IDs: make([]int32, n), Pos: make([]int32, n), Seq: make([]int32, n)}
		for i := range n {
			bt.Pos[i], bt.Seq[i] = int32(c.pos), int32(i)
			tab := make([]int32, perSeq)
			for j := range tab {
				tab[j] = int32(i*perSeq + j)
			}
			bt.Tables = append(bt.Tables, tab)
		}
		act := func(cols int) engine.Tensor {
			a, _ := be.NewActivation(ctx, 64, cols)
			fillAct(b, be, a)
			return a
		}
		x, h, q, k, v, att, gate, up, logits := act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.hidden), act(s.inter), act(s.inter), act(32000)
		norm := randomDense(b, be, 1, s.hidden)
		head := randomDense(b, be, 32000, s.hidden)
		table := randomDense(b, be, 32000, s.hidden)
		li := 0
		nextCache := func() engine.Tensor { li = (li + 1) % caches; return kv[li] }
		for _, part := range []struct {
			name           string
			count, perStep int // launches per Run, per step
			fn             func(o engine.Ops)
		}{
			{"rope_attention", 80, layers, func(o engine.Ops) {
				o.RoPE(q, hd, 10000)
				o.RoPE(k, hd, 10000)
				o.Attention(att, q, k, v, nextCache())
			}},
			{"attention", 80, layers, func(o engine.Ops) { o.Attention(att, q, k, v, nextCache()) }},
			{"rmsnorm", 240, 2*layers + 1, func(o engine.Ops) { o.RMSNorm(h, x, norm, 1e-5) }},
			{"rope", 240, layers, func(o engine.Ops) { o.RoPE(q, hd, 10000); o.RoPE(k, hd, 10000) }},
			{"silu", 240, layers, func(o engine.Ops) { o.SiLUMul(gate, gate, up) }},
			{"add", 240, 2 * layers, func(o engine.Ops) { o.Add(x, x, h) }},
			{"lm_head", 20, 1, func(o engine.Ops) { o.MatMul(logits, h, head) }},
			{"embed", 240, 1, func(o engine.Ops) { o.Embed(x, table) }},
		} {
			if c.pos != 512 && !strings.HasSuffix(part.name, "attention") {
				continue
			}
			b.Run(fmt.Sprintf("rows=%d/pos=%d/%s", n, c.pos, part.name), func(b *testing.B) {
				step := func(o engine.Ops) {
					for range part.count {
						part.fn(o)
					}
				}
				for range 2 { // warm up, then capture the graph
					if err := be.RunBatch(ctx, bt, step); err != nil {
						b.Fatal(err)
					}
				}
				syncB(b, be)
				for b.Loop() {
					if err := be.RunBatch(ctx, bt, step); err != nil {
						b.Fatal(err)
					}
					syncB(b, be)
				}
				us := b.Elapsed().Seconds() / float64(b.N*part.count) * 1e6
				b.ReportMetric(us, "us/op")
				b.ReportMetric(us*float64(part.perStep)/1e3, "ms/step")
			})
		}
		if c.pos != 512 {
			continue
		}
		b.Run(fmt.Sprintf("rows=%d/pos=%d/logits_read", n, c.pos), func(b *testing.B) {
			row := make([]float32, 32000)
			for b.Loop() {
				for i := range n {
					if err := be.Read(ctx, row, logits, i, 1); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/step")
		})
		hist := make([]int32, 600)
		for i := range hist {
			hist[i] = int32(i * 53 % 32000)
		}
		for _, smp := range []struct {
			name string
			s    engine.Sampling
		}{{"greedy", engine.Sampling{}}, {"sampled", engine.Sampling{Temperature: 1, TopK: 50, TopP: 0.9, RepetitionPenalty: 1.1}}} {
			b.Run(fmt.Sprintf("rows=%d/pos=%d/sample_rows_%s", n, c.pos, smp.name), func(b *testing.B) {
				rows := make([]engine.RowSample, n)
				for i := range rows {
					rows[i] = engine.RowSample{Row: i, Sampling: smp.s, History: hist, U: 0.5}
				}
				for b.Loop() {
					if _, err := be.SampleRows(ctx, logits, rows); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/step")
			})
		}
	}
}

// BenchmarkTCSweep times the 80 layers' linears of random LLaMA-65B weights (4-bit
// without groups, 3-bit in groups of 128), as BenchmarkBatch's linears do (norms,
// fused adds and the float16 lm_head included), at 2, 3, 4, 16, 32 and 64 rows on
// every tensor-core configuration of the tile that takes them (tcKernels of 16 rows
// up to 16, of 32 for 32, of 64 for 64) under the fill and waves split policies, at 2
// to 4 rows on gptq_mvN_r4 (mv), and at one row on gptq_mvN (rows=1/mv, the figure
// the batches are against). Both quantizations take the raw builds. TestTCConfigs checks the same configurations.
// ms/step is one step of the 80 layers, TB/s the weights (and lm_head) it reads over
// that time.
//
//	./cuda.test -test.run '^$' -test.bench TCSweep -test.benchtime 3x
func BenchmarkTCSweep(b *testing.B) {
	s := llama65B
	for _, q := range []struct {
		name        string
		bits, group int
	}{{"4bit-nogroup", 4, 0}, {"3bit-128g", 3, 128}} {
		b.Run(q.name, func(b *testing.B) {
			be := open(b, engine.Shape{Hidden: s.hidden, Intermediate: s.inter, Layers: s.layers, Heads: s.heads, KVHeads: s.heads,
				HeadDim: 128, Vocab: 32000, Context: 2048, MaxBatch: 64})
			model, bytes, _ := randomModel(b, be, s, q.bits, q.group, false, nil)
			linears := func(o engine.Ops) { model(o, false) }
			timed := func(b *testing.B, rows int) {
				ids := make([]int32, rows)
				for range 2 { // warm up, then capture the graph
					if err := be.Run(ctx, ids, 0, linears); err != nil {
						b.Fatal(err)
					}
				}
				syncB(b, be)
				for b.Loop() {
					if err := be.Run(ctx, ids, 0, linears); err != nil {
						b.Fatal(err)
					}
					syncB(b, be)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/step")
				b.ReportMetric(float64(bytes)/sec/1e12, "TB/s")
			}
			for _, rows := range []int{1, 2, 3, 4, 16, 32, 64} {
				if rows == 1 {
					b.Run("rows=1/mv", func(b *testing.B) { timed(b, 1) })
					continue
				}
				if rows <= 4 {
					b.Run(fmt.Sprintf("rows=%d/mv", rows), func(b *testing.B) {
						defer func(m int) { tcRowsMin = m }(tcRowsMin)
						tcRowsMin = mvRowsMax + 1
						timed(b, rows)
					})
				}
				for _, c := range tcTestConfigs() {
					if c.split > 0 || c.k.rows != tcTile(rows) {
						continue
					}
					b.Run(fmt.Sprintf("rows=%d/%v", rows, c), func(b *testing.B) {
						defer func(r4 int, f *tcConfig) { mvR4Rows, tcForce = r4, f }(mvR4Rows, tcForce)
						mvR4Rows, tcForce = 0, &c
						timed(b, rows)
					})
				}
			}
		})
	}
}

// tcTile is the most rows of the smallest tensor-core tile that takes rows rows.
func tcTile(rows int) int {
	t := 16
	for t < rows {
		t *= 2
	}
	return t
}

// tcDefaultsFromEnv sets tcDefaults (and mvR4Rows) for the length of a benchmark from
// $AGENT_TC_DEFAULTS, as a list like "4=m16_p2w8/waves,16=m16_p2w8d4/fill,mvr4=0"
// (a band's most rows = a configuration of tcTestConfigs), so that one device call can
// time whole steps on the configurations its sweep found fastest.
func tcDefaultsFromEnv(tb testing.TB) {
	v := os.Getenv("AGENT_TC_DEFAULTS")
	if v == "" {
		return
	}
	old, r4 := slices.Clone(tcDefaults), mvR4Rows
	tb.Cleanup(func() { tcDefaults, mvR4Rows = old, r4 })
	for _, f := range strings.Split(v, ",") {
		key, val, _ := strings.Cut(f, "=")
		if key == "mvr4" {
			n, err := strconv.Atoi(val)
			if err != nil {
				tb.Fatalf("AGENT_TC_DEFAULTS: %q: %v", f, err)
			}
			mvR4Rows = n
			continue
		}
		rows, err := strconv.Atoi(key)
		i := slices.IndexFunc(tcDefaults, func(d struct {
			rows int
			c    tcConfig
		}) bool {
			return d.rows == rows
		})
		j := slices.IndexFunc(tcTestConfigs(), func(c tcConfig) bool { return c.String() == val })
		if err != nil || i < 0 || j < 0 || tcTestConfigs()[j].k.rows < rows {
			tb.Fatalf("AGENT_TC_DEFAULTS: %q is not a band's rows = a configuration that takes them", f)
		}
		tcDefaults[i].c = tcTestConfigs()[j]
	}
	tb.Logf("tensor-core defaults: %v, mvR4Rows %d", tcDefaults, mvR4Rows)
}
