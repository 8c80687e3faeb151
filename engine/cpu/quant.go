package cpu

import (
	"encoding/binary"
	"fmt"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// quant is a GPTQ layer kept packed. Rows are in group order: straight from the
// checkpoint when g_idx is already sorted, else reordered once at load (perm
// gathers the input to match).
type quant struct {
	in, out, bits, groups int
	words                 []uint32  // [in*bits/32][out]
	scales                []float32 // [groups][out]
	zeros                 []float32 // [groups][out]: stored zero + offset
	perm                  []int32   // sorted row i is input row perm[i]; nil if sorted already
	runRows, runWords     int       // one run: the rows whose values fill runWords words
	segs                  []segment // per run, the stretches of rows in one group
	runSeg                []int32   // run r's segments are segs[runSeg[r]:runSeg[r+1]]
}

// segment is rows [lo, hi) of a run (offsets within the run) in group g; last marks
// the group's final segment, where its partial sums are scaled and added.
type segment struct {
	lo, hi, g int32
	last      bool
}

func (q *quant) Dims() (int, int) { return q.in, q.out }

func newQuant(w engine.QuantWeight) (*quant, error) {
	l := gptq.Layout{In: w.In, Out: w.Out, Bits: w.Bits, GroupSize: w.GroupSize}
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", w.Name, err)
	}
	groups := w.Groups()
	want := []struct {
		name string
		got  int
		n    int
	}{
		{"qweight", len(w.QWeight), 4 * w.In * w.Bits / 32 * w.Out},
		{"qzeros", len(w.QZeros), 4 * groups * w.Out * w.Bits / 32},
		{"scales", len(w.Scales), 2 * groups * w.Out},
		{"g_idx", len(w.GIdx), 4 * w.In},
	}
	for _, c := range want {
		if c.got != c.n {
			return nil, fmt.Errorf("%s.%s: %d bytes, want %d", w.Name, c.name, c.got, c.n)
		}
	}
	for k := range w.In {
		if g := int32(binary.LittleEndian.Uint32(w.GIdx[4*k:])); g < 0 || int(g) >= groups {
			return nil, fmt.Errorf("%s.g_idx: row %d in group %d of %d", w.Name, k, g, groups)
		}
	}
	sorted, perm := gptq.MakeSequential(w)
	q := &quant{in: w.In, out: w.Out, bits: w.Bits, groups: groups, words: words(sorted.QWeight), perm: perm,
		scales: make([]float32, groups*w.Out), zeros: make([]float32, groups*w.Out)}
	half.Decode(q.scales, w.Scales)
	zw := words(w.QZeros)
	for g := range groups {
		for n := range w.Out {
			z := gptq.Extract(func(i int) uint32 { return zw[g*w.Out*w.Bits/32+i] }, n, w.Bits)
			q.zeros[g*w.Out+n] = float32(int32(z) + w.ZeroOffset)
		}
	}
	q.runRows, q.runWords = 32/w.Bits, 1
	if w.Bits == 3 {
		q.runRows, q.runWords = 32, 3
	}
	gidx := func(k int) int32 { return int32(binary.LittleEndian.Uint32(sorted.GIdx[4*k:])) }
	for r := 0; r < w.In/q.runRows; r++ {
		q.runSeg = append(q.runSeg, int32(len(q.segs)))
		base := r * q.runRows
		lo := 0
		for j := 1; j <= q.runRows; j++ {
			if j < q.runRows && gidx(base+j) == gidx(base+lo) {
				continue
			}
			k := base + j - 1 // the segment's final row
			last := k+1 == w.In || gidx(k+1) != gidx(k)
			q.segs = append(q.segs, segment{lo: int32(lo), hi: int32(j), g: gidx(k), last: last})
			lo = j
		}
	}
	q.runSeg = append(q.runSeg, int32(len(q.segs)))
	return q, nil
}

// unpack writes the runRows levels of run r, column n, into buf.
func (q *quant) unpack(buf *[32]float32, r, n int) {
	out := q.out
	switch q.bits {
	case 4:
		w := q.words[r*out+n]
		for j := range 8 {
			buf[j] = float32(w >> (4 * j) & 15)
		}
	case 8:
		w := q.words[r*out+n]
		for j := range 4 {
			buf[j] = float32(w >> (8 * j) & 255)
		}
	case 2:
		w := q.words[r*out+n]
		for j := range 16 {
			buf[j] = float32(w >> (2 * j) & 3)
		}
	case 3:
		base := 3 * r * out
		lo := uint64(q.words[base+n]) | uint64(q.words[base+out+n])<<32
		hi := q.words[base+2*out+n]
		for j := range 21 {
			buf[j] = float32(lo >> (3 * j) & 7)
		}
		buf[21] = float32((uint32(lo>>63) | hi<<1) & 7)
		for j := 22; j < 32; j++ {
			buf[j] = float32(hi >> (3*j - 64) & 7)
		}
	}
}

// chunkCols is how many output columns one worker handles at a time: the words of a
// run for these columns are contiguous, and the partial sums stay in L1.
const chunkCols = 64

// mul sets dst[t] = x[t]·W for rows t < T (x already gathered through perm).
func (q *quant) mul(dst, x []float32, T int) {
	in, out := q.in, q.out
	chunks := (out + chunkCols - 1) / chunkCols
	parallel(chunks, func(clo, chi int) {
		acc := make([]float32, T*chunkCols)
		var buf, d [32]float32
		for c := clo; c < chi; c++ {
			n0, n1 := c*chunkCols, min((c+1)*chunkCols, out)
			for t := range T {
				clear(dst[t*out+n0 : t*out+n1])
			}
			clear(acc)
			for r := 0; r < in/q.runRows; r++ {
				segs := q.segs[q.runSeg[r]:q.runSeg[r+1]]
				row0 := r * q.runRows
				if q.bits == 4 && T == 1 && len(segs) == 1 {
					q.run4(dst, acc, x, T, r, segs[0], n0, n1)
					continue
				}
				for n := n0; n < n1; n++ {
					q.unpack(&buf, r, n)
					ni := n - n0
					for _, s := range segs {
						z := q.zeros[int(s.g)*out+n]
						m := int(s.hi - s.lo)
						for j := range m {
							d[j] = buf[int(s.lo)+j] - z
						}
						for t := range T {
							xs := x[t*in+row0+int(s.lo):][:m]
							var a float32
							for j, v := range xs {
								a += d[j] * v
							}
							acc[t*chunkCols+ni] += a
						}
						if s.last {
							sc := q.scales[int(s.g)*out+n]
							for t := range T {
								dst[t*out+n] += sc * acc[t*chunkCols+ni]
								acc[t*chunkCols+ni] = 0
							}
						}
					}
				}
			}
		}
	})
}

// run4 is mul's inner loop for the common decode case, one token and a 4-bit run of 8 rows in one
// group: the run's inputs are loaded once for all columns, and the zero is applied
// through their sum, q·x − z·Σx.
func (q *quant) run4(dst, acc, x []float32, T, r int, s segment, n0, n1 int) {
	in, out := q.in, q.out
	words := q.words[r*out+n0 : r*out+n1]
	zeros := q.zeros[int(s.g)*out+n0 : int(s.g)*out+n1]
	for t := range T {
		xr := x[t*in+8*r:][:8]
		x0, x1, x2, x3, x4, x5, x6, x7 := xr[0], xr[1], xr[2], xr[3], xr[4], xr[5], xr[6], xr[7]
		xs := ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))
		a := acc[t*chunkCols:][:len(words)]
		for i, w := range words {
			v := (float32(w&15)*x0 + float32(w>>4&15)*x1) + (float32(w>>8&15)*x2 + float32(w>>12&15)*x3) +
				(float32(w>>16&15)*x4 + float32(w>>20&15)*x5) + (float32(w>>24&15)*x6 + float32(w>>28)*x7)
			a[i] += v - zeros[i]*xs
		}
	}
	if s.last {
		scales := q.scales[int(s.g)*out+n0 : int(s.g)*out+n1]
		for t := range T {
			a := acc[t*chunkCols:][:len(words)]
			d := dst[t*out+n0 : t*out+n1]
			for i, sc := range scales {
				d[i] += sc * a[i]
				a[i] = 0
			}
		}
	}
}
