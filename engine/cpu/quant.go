package cpu

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// quant is a GPTQ layer kept packed. Rows are in group order: straight from the
// checkpoint when g_idx is already sorted, else reordered once at load (perm
// gathers the input to match).
//
// The product never unpacks a level. A level is the sum of its bits times powers
// of two, so x·q over the 32 bits of one packed word is linear in those bits: for
// each byte of a word, a 256-entry table built from the inputs holds the sum for
// every bit pattern, and one word costs four lookups whatever the bit width (even
// 3-bit levels that straddle words). Within a group the tables add up
// Σ x·q per output column; the zero and scale are applied once per group and
// column, as s·(Σ x·q − z·Σ x).
type quant struct {
	in, out, bits, groups int
	words                 []uint32  // [in*bits/32][out]
	scales                []float32 // [groups][out]
	zeros                 []float32 // [groups][out]: stored zero + offset
	perm                  []int32   // sorted row i is input row perm[i]; nil if sorted already
	groupRow              []int32   // group g is sorted rows groupRow[g]:groupRow[g+1]
	pieces                []piece   // each group's bits, word row by word row
	groupPiece            []int32   // group g's pieces are pieces[groupPiece[g]:groupPiece[g+1]]
}

// piece is the bits [lo, hi) of word row `row` (bit b is bit b%bits of sorted row
// (32·row+b)/bits): the part of that word row in one group.
type piece struct {
	row    int32
	lo, hi int8
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
		scales: make([]float32, groups*w.Out), zeros: make([]float32, groups*w.Out),
		groupRow: make([]int32, groups+1), groupPiece: make([]int32, groups+1)}
	half.Decode(q.scales, w.Scales)
	zw := words(w.QZeros)
	for g := range groups {
		for n := range w.Out {
			z := gptq.Extract(func(i int) uint32 { return zw[g*w.Out*w.Bits/32+i] }, n, w.Bits)
			q.zeros[g*w.Out+n] = float32(int32(z) + w.ZeroOffset)
		}
	}
	for k := range w.In {
		q.groupRow[binary.LittleEndian.Uint32(sorted.GIdx[4*k:])+1]++
	}
	for g := range groups {
		q.groupRow[g+1] += q.groupRow[g]
		// The group's bits are the stream bits [lo, hi); cut them at word boundaries.
		lo, hi := int(q.groupRow[g])*w.Bits, int(q.groupRow[g+1])*w.Bits
		for b := lo; b < hi; b = (b/32 + 1) * 32 {
			e := min(hi, (b/32+1)*32)
			q.pieces = append(q.pieces, piece{row: int32(b / 32), lo: int8(b % 32), hi: int8(e - b/32*32)})
		}
		q.groupPiece[g+1] = int32(len(q.pieces))
	}
	return q, nil
}

// table is the lookup table of one byte of a word: entry v is x·q summed over the
// bits set in v.
type table = [256]float32

// tables fills the four byte tables of piece p for the (sorted) input row x.
func (q *quant) tables(t *[4]table, p piece, x []float32) {
	base := int(p.row) * 32
	for b := range t {
		tb := &t[b]
		tb[0] = 0
		for i := range 8 {
			bit := 8*b + i
			var c float32
			if bit >= int(p.lo) && bit < int(p.hi) {
				s := base + bit
				c = x[s/q.bits] * float32(int(1)<<(s%q.bits))
			}
			step := 1 << i
			lo, hi := tb[:step], tb[step:2*step]
			for m, v := range lo {
				hi[m] = v + c
			}
		}
	}
}

// piecesPerPass is how many word rows one pass over the columns adds up: their
// tables (16 KiB each row of the batch) stay in L1 and acc is read and written
// once per pass.
const piecesPerPass = 4

// colAlign keeps each worker's columns on whole cache lines of dst and acc.
const colAlign = 16

// scratch is one worker's buffers, reused across calls.
type scratch struct {
	acc, sx []float32
	tab     []table
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// mul sets dst[t] = x[t]·W for rows t < T (x already gathered through perm).
func (q *quant) mul(dst, x []float32, T int) {
	out := q.out
	parallel((out+colAlign-1)/colAlign, func(clo, chi int) {
		n0, n1 := clo*colAlign, min(chi*colAlign, out)
		s := scratchPool.Get().(*scratch)
		q.mulCols(dst, x, T, n0, n1, s)
		scratchPool.Put(s)
	})
}

// mulCols computes output columns [n0, n1) of mul.
func (q *quant) mulCols(dst, x []float32, T, n0, n1 int, s *scratch) {
	in, out, cols := q.in, q.out, n1-n0
	s.acc = grow(s.acc, T*cols)
	if cap(s.tab) < T*piecesPerPass*4 {
		s.tab = make([]table, T*piecesPerPass*4)
	}
	s.sx = grow(s.sx, T)
	clear(s.acc)
	for t := range T {
		clear(dst[t*out+n0 : t*out+n1])
	}
	tabs := func(t, j int) *[4]table {
		return (*[4]table)(s.tab[(t*piecesPerPass+j)*4:][:4])
	}
	for g := range q.groups {
		ps := q.pieces[q.groupPiece[g]:q.groupPiece[g+1]]
		if len(ps) == 0 {
			continue
		}
		for t := range T {
			var sum float32
			for _, v := range x[t*in+int(q.groupRow[g]) : t*in+int(q.groupRow[g+1])] {
				sum += v
			}
			s.sx[t] = sum
		}
		for len(ps) > 0 {
			k := min(len(ps), piecesPerPass)
			for t := range T {
				for j, p := range ps[:k] {
					q.tables(tabs(t, j), p, x[t*in:(t+1)*in])
				}
			}
			w := func(j int) []uint32 { return q.words[int(ps[j].row)*out+n0:][:cols] }
			for t := range T {
				acc := s.acc[t*cols : (t+1)*cols]
				switch k {
				case 4:
					lookup4(acc, w(0), w(1), w(2), w(3), tabs(t, 0), tabs(t, 1), tabs(t, 2), tabs(t, 3))
				default:
					for j := range k {
						lookup1(acc, w(j), tabs(t, j))
					}
				}
			}
			ps = ps[k:]
		}
		scales, zeros := q.scales[g*out+n0:][:cols], q.zeros[g*out+n0:][:cols]
		for t := range T {
			acc, d, sx := s.acc[t*cols:(t+1)*cols], dst[t*out+n0:t*out+n1], s.sx[t]
			for i, sc := range scales {
				d[i] += sc * (acc[i] - zeros[i]*sx)
				acc[i] = 0
			}
		}
	}
}

// lookup1 adds one word row's table sums to acc.
func lookup1(acc []float32, w []uint32, t *[4]table) {
	w = w[:len(acc)]
	for i, a := range w {
		acc[i] += (t[0][uint8(a)] + t[1][uint8(a>>8)]) + (t[2][uint8(a>>16)] + t[3][uint8(a>>24)])
	}
}

// lookup4 adds four word rows' table sums to acc.
func lookup4(acc []float32, w0, w1, w2, w3 []uint32, t0, t1, t2, t3 *[4]table) {
	w0, w1, w2, w3 = w0[:len(acc)], w1[:len(acc)], w2[:len(acc)], w3[:len(acc)]
	for i, a := range w0 {
		b, c, d := w1[i], w2[i], w3[i]
		sa := (t0[0][uint8(a)] + t0[1][uint8(a>>8)]) + (t0[2][uint8(a>>16)] + t0[3][uint8(a>>24)])
		sb := (t1[0][uint8(b)] + t1[1][uint8(b>>8)]) + (t1[2][uint8(b>>16)] + t1[3][uint8(b>>24)])
		sc := (t2[0][uint8(c)] + t2[1][uint8(c>>8)]) + (t2[2][uint8(c>>16)] + t2[3][uint8(c>>24)])
		sd := (t3[0][uint8(d)] + t3[1][uint8(d>>8)]) + (t3[2][uint8(d>>16)] + t3[3][uint8(d>>24)])
		acc[i] += (sa + sb) + (sc + sd)
	}
}
