package cpu

import (
	"encoding/binary"
	"runtime"
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
	if err := gptq.CheckWeight(w); err != nil {
		return nil, err
	}
	groups := w.Groups()
	sorted, perm, err := gptq.MakeSequential(w)
	if err != nil {
		return nil, err
	}
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
	var nib [2][16]float32 // the sums of each half byte's bit patterns
	for b := range t {
		for h := range nib {
			n := &nib[h]
			n[0] = 0
			for i := range 4 {
				bit := 8*b + 4*h + i
				var c float32
				if bit >= int(p.lo) && bit < int(p.hi) {
					s := base + bit
					c = x[s/q.bits] * float32(int(1)<<(s%q.bits))
				}
				step := 1 << i
				for m := range step {
					n[m+step] = n[m] + c
				}
			}
		}
		lo := &nib[0]
		for h, hv := range nib[1] {
			r := (*[16]float32)(t[b][16*h:])
			r[0], r[1], r[2], r[3] = hv+lo[0], hv+lo[1], hv+lo[2], hv+lo[3]
			r[4], r[5], r[6], r[7] = hv+lo[4], hv+lo[5], hv+lo[6], hv+lo[7]
			r[8], r[9], r[10], r[11] = hv+lo[8], hv+lo[9], hv+lo[10], hv+lo[11]
			r[12], r[13], r[14], r[15] = hv+lo[12], hv+lo[13], hv+lo[14], hv+lo[15]
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
	blk     [][4]float32
	tab     []table
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// A work item of mul is at most itemRows rows by itemCols columns, so that its sums
// (16 KiB for four rows of 1024 columns), its tables (16 KiB per row) and the packed
// words of a pass stay in L2.
const itemRows, itemCols = 8, 4096

// mul sets dst[t] = x[t]·W for rows t < T (x already gathered through perm).
//
// The work is cut into items of rows and columns, as many column parts as cores or
// a multiple, and the cores take runs of items. Items with the same rows build the
// same tables (a fixed cost per column part), so a core's run keeps the same rows
// where it can; the rows of a batch beyond itemRows go in further items, which read
// the packed words again, at a small cost next to the lookups of a batch.
func (q *quant) mul(dst, x []float32, T int) {
	in, out, p := q.in, q.out, runtime.GOMAXPROCS(0)
	rowParts := (T + itemRows - 1) / itemRows
	colParts := p * ((out + p*itemCols - 1) / (p * itemCols))
	colChunks := (out + colAlign - 1) / colAlign
	parallel(rowParts*colParts, func(lo, hi int) {
		s := scratchPool.Get().(*scratch)
		for item := lo; item < hi; item++ {
			r, c := item/colParts, item%colParts
			t0, t1 := rowPart(T, rowParts, r), rowPart(T, rowParts, r+1)
			n0, n1 := c*colChunks/colParts*colAlign, min((c+1)*colChunks/colParts*colAlign, out)
			if t0 < t1 && n0 < n1 {
				q.mulCols(dst[t0*out:t1*out], x[t0*in:t1*in], t1-t0, n0, n1, s)
			}
		}
		scratchPool.Put(s)
	})
}

// rowPart is where part i of T rows split into parts begins: at a whole block of
// four except at the end.
func rowPart(T, parts, i int) int {
	if i == parts {
		return T
	}
	return T / 4 * i / parts * 4
}

// mulCols computes output columns [n0, n1) of mul. Rows go in blocks of four,
// whose sums of column i lie together (blk[cols·b + i][r] for row 4b+r); the rows
// after the last whole block have a stretch of cols sums each in acc.
func (q *quant) mulCols(dst, x []float32, T, n0, n1 int, s *scratch) {
	in, out, cols := q.in, q.out, n1-n0
	T4 := T / 4 * 4
	s.acc = grow(s.acc, (T-T4)*cols)
	if cap(s.blk) < T4/4*cols {
		s.blk = make([][4]float32, T4/4*cols)
	}
	blk := s.blk[:T4/4*cols]
	clear(blk)
	if cap(s.tab) < T*piecesPerPass*4 {
		s.tab = make([]table, T*piecesPerPass*4)
	}
	s.sx = grow(s.sx, T)
	clear(s.acc)
	for t := range T {
		clear(dst[t*out+n0 : t*out+n1])
	}
	// Row t's tables for piece j of a pass start at tab[16t + 4j].
	tab := s.tab[:T*piecesPerPass*4]
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
					q.tables((*[4]table)(tab[16*t+4*j:]), p, x[t*in:(t+1)*in])
				}
			}
			w := func(j int) []uint32 { return q.words[int(ps[j].row)*out+n0:][:cols] }
			for j := range k {
				for t := 0; t < T4; t += 4 {
					lookupRows4(blk[t/4*cols:(t/4+1)*cols], w(j), (*[52]table)(tab[16*t+4*j:]))
				}
			}
			// The rows after the last block of four add the word rows one at a
			// time, in the order and association of lookupRows4, so that a row's
			// result is the same bits wherever it sits in the batch (the
			// continuous-batching scheduler relies on it: a sequence's tokens do
			// not depend on its neighbours).
			for t := T4; t < T; t++ {
				acc := s.acc[(t-T4)*cols : (t-T4+1)*cols]
				for j := range k {
					lookup1(acc, w(j), (*[4]table)(tab[16*t+4*j:]))
				}
			}
			ps = ps[k:]
		}
		scales, zeros := q.scales[g*out+n0:][:cols], q.zeros[g*out+n0:][:cols]
		for t := range T4 {
			acc, d, sx, r := blk[t/4*cols:][:cols], dst[t*out+n0:t*out+n1], s.sx[t], t%4
			for i, sc := range scales {
				d[i] += sc * (acc[i][r] - zeros[i]*sx)
			}
		}
		for t := T4; t < T; t++ {
			acc, d, sx := s.acc[(t-T4)*cols:][:cols], dst[t*out+n0:t*out+n1], s.sx[t]
			for i, sc := range scales {
				d[i] += sc * (acc[i] - zeros[i]*sx)
			}
		}
		clear(s.acc)
		clear(blk)
	}
}

// lookupRows4 adds one word row's table sums for four input rows to acc, where
// acc[i][r] is row r's sum of column i and t[16r+b] row r's table of byte b.
func lookupRows4(acc [][4]float32, w []uint32, t *[52]table) {
	w = w[:len(acc)]
	for i, a := range w {
		b0, b1, b2, b3 := uint8(a), uint8(a>>8), uint8(a>>16), a>>24
		s := &acc[i]
		s[0] += (t[0][b0] + t[1][b1]) + (t[2][b2] + t[3][b3])
		s[1] += (t[16][b0] + t[17][b1]) + (t[18][b2] + t[19][b3])
		s[2] += (t[32][b0] + t[33][b1]) + (t[34][b2] + t[35][b3])
		s[3] += (t[48][b0] + t[49][b1]) + (t[50][b2] + t[51][b3])
	}
}

// lookup1 adds one word row's table sums to acc.
func lookup1(acc []float32, w []uint32, t *[4]table) {
	w = w[:len(acc)]
	for i, a := range w {
		acc[i] += (t[0][uint8(a)] + t[1][uint8(a>>8)]) + (t[2][uint8(a>>16)] + t[3][uint8(a>>24)])
	}
}
