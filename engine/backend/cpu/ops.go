package cpu

import (
	"math"

	"github.com/rewoo-agent/agent/engine"
)

// Embed implements engine.Ops.
func (st *pass) Embed(dst, table engine.Tensor) {
	if !st.ok() {
		return
	}
	d := st.acts("embed", dst)
	tab, ok := table.(*dense)
	if d == nil || !ok {
		st.fail("embed: table is a %T", table)
		return
	}
	if d[0].cols != tab.cols {
		st.fail("embed: %d columns into %d", tab.cols, d[0].cols)
		return
	}
	for i, id := range st.ids {
		if int(id) >= tab.rows || id < 0 {
			st.fail("embed: id %d outside the table of %d", id, tab.rows)
			return
		}
		copy(d[0].data[i*tab.cols:(i+1)*tab.cols], tab.data[int(id)*tab.cols:])
	}
}

// RMSNorm implements engine.Ops.
func (st *pass) RMSNorm(dst, x, weight engine.Tensor, eps float32) {
	if !st.ok() {
		return
	}
	a := st.acts("rmsnorm", dst, x)
	w, ok := weight.(*dense)
	if a == nil || !ok || a[0].cols != a[1].cols || len(w.data) != a[1].cols {
		st.fail("rmsnorm: mismatched arguments")
		return
	}
	n := a[1].cols
	for t := range st.ids {
		row := a[1].data[t*n : (t+1)*n]
		var ss float32
		for _, v := range row {
			ss += v * v
		}
		r := float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
		out := a[0].data[t*n : (t+1)*n]
		for i, v := range row {
			out[i] = w.data[i] * (v * r)
		}
	}
}

// MatMul implements engine.Ops.
func (st *pass) MatMul(dst, x, w engine.Tensor) {
	if !st.ok() {
		return
	}
	a := st.acts("matmul", dst, x)
	if a == nil {
		return
	}
	st.mul("matmul", a[0].data, a[1].data, a[0].cols, a[1].cols, w, len(st.ids))
}

// MatMulLast implements engine.LastRowOps: MatMulRows on the batch's last row.
func (st *pass) MatMulLast(dst, x, w engine.Tensor) {
	st.MatMulRows(dst, x, w, []int{len(st.ids) - 1})
}

// MatMulRows implements engine.RowOps: the listed rows are copied together, put
// through the product as MatMul puts a batch of that many rows, and copied back;
// every row of the batch is MatMul itself.
func (st *pass) MatMulRows(dst, x, w engine.Tensor, rows []int) {
	if !st.ok() {
		return
	}
	a := st.acts("matmul rows", dst, x)
	if a == nil {
		return
	}
	for i, r := range rows {
		if r < 0 || r >= len(st.ids) || i > 0 && r <= rows[i-1] {
			st.fail("matmul rows: row %d of %v in a batch of %d (ascending, each once)", r, rows, len(st.ids))
			return
		}
	}
	d, xs, k := a[0], a[1], len(rows)
	switch k {
	case 0:
		return
	case len(st.ids): // ascending and each once: every row
		st.mul("matmul rows", d.data, xs.data, d.cols, xs.cols, w, k)
		return
	}
	st.b.rowsIn, st.b.rowsOut = grow(st.b.rowsIn, k*xs.cols), grow(st.b.rowsOut, k*d.cols)
	xk, dk := st.b.rowsIn, st.b.rowsOut
	for i, r := range rows {
		copy(xk[i*xs.cols:(i+1)*xs.cols], xs.data[r*xs.cols:])
	}
	if st.mul("matmul rows", dk, xk, d.cols, xs.cols, w, k); st.err != nil {
		return
	}
	for i, r := range rows {
		copy(d.data[r*d.cols:(r+1)*d.cols], dk[i*d.cols:])
	}
}

// mul sets the first T rows of d (dcols wide) to those of x (xcols wide) times w.
func (st *pass) mul(op string, d, x []float32, dcols, xcols int, w engine.Tensor, T int) {
	switch w := w.(type) {
	case *quant:
		if xcols != w.in || dcols != w.out {
			st.fail("%s: %d×%d weight with %d inputs and %d outputs", op, w.in, w.out, xcols, dcols)
			return
		}
		in := x[:T*w.in]
		if w.perm != nil {
			if cap(st.b.gather) < T*w.in {
				st.b.gather = make([]float32, T*w.in)
			}
			g := st.b.gather[:T*w.in]
			for t := range T {
				row, grow := in[t*w.in:(t+1)*w.in], g[t*w.in:(t+1)*w.in]
				for i, k := range w.perm {
					grow[i] = row[k]
				}
			}
			in = g
		}
		w.mul(d, in, T)
	case *dense:
		if xcols != w.cols || dcols != w.rows {
			st.fail("%s: %d×%d dense weight with %d inputs and %d outputs", op, w.rows, w.cols, xcols, dcols)
			return
		}
		denseMul(d, x, w, T)
	default:
		st.fail("%s: weight is a %T", op, w)
	}
}

// denseMul sets dst[t][n] = x[t]·W[n] for W stored [out, in].
func denseMul(dst, x []float32, w *dense, T int) {
	in, out := w.cols, w.rows
	parallel(out, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			wr := w.data[n*in : (n+1)*in]
			for t := range T {
				dst[t*out+n] = dot(wr, x[t*in:(t+1)*in])
			}
		}
	})
}

// dot is a float32 dot product with four partial sums.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// RoPE implements engine.Ops, with the float32 arithmetic of Hugging Face's
// LlamaRotaryEmbedding: inv_freq = 1/theta^(2j/d), angle = position × inv_freq.
func (st *pass) RoPE(x engine.Tensor, headDim int, theta float32) {
	if !st.ok() {
		return
	}
	a := st.acts("rope", x)
	if a == nil || headDim <= 0 || headDim%2 != 0 || a[0].cols%headDim != 0 {
		st.fail("rope: head size %d does not fit the activation", headDim)
		return
	}
	h := headDim / 2
	cos, sin := make([]float32, h), make([]float32, h)
	for t := range st.ids {
		pos := float32(st.position(t))
		for j := range h {
			inv := float32(1 / math.Pow(float64(theta), float64(float32(2*j)/float32(headDim))))
			ang := float64(pos * inv)
			cos[j], sin[j] = float32(math.Cos(ang)), float32(math.Sin(ang))
		}
		row := a[0].data[t*a[0].cols : (t+1)*a[0].cols]
		for off := 0; off < len(row); off += headDim {
			x1, x2 := row[off:off+h], row[off+h:off+headDim]
			for j := range h {
				u, v := x1[j], x2[j]
				x1[j] = u*cos[j] - v*sin[j]
				x2[j] = v*cos[j] + u*sin[j]
			}
		}
	}
}

// Attention implements engine.Ops.
func (st *pass) Attention(dst, q, k, v, cache engine.Tensor) {
	if !st.ok() {
		return
	}
	a := st.acts("attention", dst, q, k, v)
	if a == nil {
		return
	}
	if pc, ok := cache.(*pagedCache); ok {
		st.pagedAttention(a[0], a[1], a[2], a[3], pc)
		return
	}
	c, ok := cache.(*kvCache)
	if !ok || st.batch != nil {
		st.fail("attention: cache is a %T (a paged cache needs RunBatch, a one-sequence cache Run)", cache)
		return
	}
	d, qs, ks, vs := a[0], a[1], a[2], a[3]
	hd, kvCols := c.headDim, c.kvHeads*c.headDim
	if ks.cols != kvCols || vs.cols != kvCols || qs.cols%hd != 0 || d.cols != qs.cols || (qs.cols/hd)%c.kvHeads != 0 {
		st.fail("attention: q %d, k %d, v %d columns for %d×%d cache heads", qs.cols, ks.cols, vs.cols, c.kvHeads, hd)
		return
	}
	T := len(st.ids)
	for t := range T {
		p := st.start + t
		copy(c.k[p*kvCols:(p+1)*kvCols], ks.data[t*kvCols:])
		copy(c.v[p*kvCols:(p+1)*kvCols], vs.data[t*kvCols:])
	}
	heads := qs.cols / hd
	per := heads / c.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	rows := make([]int, st.start+T) // position j's cache row starts at j*kvCols
	for j := range rows {
		rows[j] = j * kvCols
	}
	parallel(T*heads, func(lo, hi int) {
		scores := make([]float32, st.start+T)
		for i := lo; i < hi; i++ {
			t, h := i/heads, i%heads
			p := st.start + t
			attend(d.data[t*d.cols+h*hd:][:hd], qs.data[t*qs.cols+h*hd:][:hd], c.k, c.v,
				rows[:p+1], (h/per)*hd, scale, scores)
		}
	})
}

// attend writes into out one query head's attention over len(rows) cache
// positions, position j's keys and values at rows[j]+off: the scaled scores, a
// softmax and the weighted sum of the values, always in this order, so both
// caches give a row the same bits.
func attend(out, qv, k, v []float32, rows []int, off int, scale float32, scores []float32) {
	hd := len(qv)
	maxs := float32(math.Inf(-1))
	for j, r := range rows {
		s := dot(qv, k[r+off:][:hd]) * scale
		scores[j] = s
		maxs = max(maxs, s)
	}
	var sum float32
	for j := range rows {
		e := float32(math.Exp(float64(scores[j] - maxs)))
		scores[j] = e
		sum += e
	}
	clear(out)
	for j, r := range rows {
		w := scores[j] / sum
		vv := v[r+off:][:hd]
		for e := range out {
			out[e] += w * vv[e]
		}
	}
}

// pagedAttention is Attention over a paged cache in a RunBatch step: the same
// arithmetic as the one-sequence cache, in the same order, reading each position
// through the row's block table, so a row's result does not depend on the batch.
func (st *pass) pagedAttention(d, qs, ks, vs *activation, c *pagedCache) {
	if st.batch == nil {
		st.fail("attention: a paged cache in a one-sequence step")
		return
	}
	hd, kvCols, bs := c.headDim, c.kvHeads*c.headDim, c.blockSize
	if ks.cols != kvCols || vs.cols != kvCols || qs.cols%hd != 0 || d.cols != qs.cols || (qs.cols/hd)%c.kvHeads != 0 {
		st.fail("attention: q %d, k %d, v %d columns for %d×%d cache heads", qs.cols, ks.cols, vs.cols, c.kvHeads, hd)
		return
	}
	bt := st.batch
	// slot is the cache row of position p of sequence s, or -1 past its table.
	slot := func(s int32, p int) int {
		tab := bt.Tables[s]
		if p/bs >= len(tab) {
			return -1
		}
		b := tab[p/bs]
		if b < 0 || int(b) >= c.blocks {
			return -1
		}
		return int(b)*bs + p%bs
	}
	T, longest := len(st.ids), 0
	for t := range T {
		p := int(bt.Pos[t])
		// Check the whole table up to p first, so the parallel part cannot fail.
		for j := 0; j <= p; j += bs {
			if slot(bt.Seq[t], j) < 0 {
				st.fail("attention: row %d at position %d: sequence %d's block table %v has no valid block for position %d (%d blocks)", t, p, bt.Seq[t], bt.Tables[bt.Seq[t]], j, c.blocks)
				return
			}
		}
		r := slot(bt.Seq[t], p)
		copy(c.k[r*kvCols:(r+1)*kvCols], ks.data[t*kvCols:])
		copy(c.v[r*kvCols:(r+1)*kvCols], vs.data[t*kvCols:])
		longest = max(longest, p+1)
	}
	heads := qs.cols / hd
	per := heads / c.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	parallel(T*heads, func(lo, hi int) {
		scores := make([]float32, longest)
		rowsOf := make([]int, longest)
		for i := lo; i < hi; i++ {
			t, h := i/heads, i%heads
			p, s := int(bt.Pos[t]), bt.Seq[t]
			if h == 0 || i == lo {
				for j := 0; j <= p; j++ {
					rowsOf[j] = slot(s, j) * kvCols
				}
			}
			attend(d.data[t*d.cols+h*hd:][:hd], qs.data[t*qs.cols+h*hd:][:hd], c.k, c.v,
				rowsOf[:p+1], (h/per)*hd, scale, scores)
		}
	})
}

// SiLUMul implements engine.Ops.
func (st *pass) SiLUMul(dst, gate, up engine.Tensor) {
	if !st.ok() {
		return
	}
	a := st.acts("silumul", dst, gate, up)
	if a == nil || a[0].cols != a[1].cols || a[1].cols != a[2].cols {
		st.fail("silumul: mismatched arguments")
		return
	}
	n := len(st.ids) * a[0].cols
	d, g, u := a[0].data[:n], a[1].data[:n], a[2].data[:n]
	for i := range d {
		x := g[i]
		d[i] = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
	}
}

// Add implements engine.Ops.
func (st *pass) Add(dst, x, y engine.Tensor) {
	if !st.ok() {
		return
	}
	a := st.acts("add", dst, x, y)
	if a == nil || a[0].cols != a[1].cols || a[1].cols != a[2].cols {
		st.fail("add: mismatched arguments")
		return
	}
	n := len(st.ids) * a[0].cols
	d, p, q := a[0].data[:n], a[1].data[:n], a[2].data[:n]
	for i := range d {
		d[i] = p[i] + q[i]
	}
}
