package gptqtest

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// PackOptions say how Quantize stores a layer.
type PackOptions struct {
	Bits      int
	GroupSize int // -1 for one group
	Sym       bool
	Format    string // "gptq" (v1, stored zeros are zero-1) or "gptq_v2"
	// Perm, when set, is the act-order: the order in which input rows were quantized
	// (AutoGPTQ's descending Hessian diagonal). Row Perm[i] goes to group i/GroupSize;
	// the rows themselves stay in their original order, as AutoGPTQ stores them.
	Perm []int
}

// Quantize rounds the float weights w ([in, out], row-major, y = x·w) to the nearest
// level of each group's grid, with AutoGPTQ's min/max grid (including zero; symmetric
// grids centred on (2^bits)/2), and packs the result in exactly AutoGPTQ's layout.
func Quantize(name string, w []float32, in, out int, opt PackOptions) (engine.QuantWeight, error) {
	l := gptq.Layout{In: in, Out: out, Bits: opt.Bits, GroupSize: opt.GroupSize}
	if err := l.Check(); err != nil {
		return engine.QuantWeight{}, fmt.Errorf("quantize %s: %w", name, err)
	}
	if len(w) != in*out {
		return engine.QuantWeight{}, fmt.Errorf("quantize %s: %d weights for %d×%d", name, len(w), in, out)
	}
	G, groups := l.Group(), l.Groups()
	gidx := make([]int, in)
	if opt.Perm != nil {
		if err := checkPerm(opt.Perm, in); err != nil {
			return engine.QuantWeight{}, fmt.Errorf("quantize %s: %w", name, err)
		}
		for i, k := range opt.Perm {
			gidx[k] = i / G
		}
	} else {
		for k := range gidx {
			gidx[k] = k / G
		}
	}
	offset := int32(1)
	if opt.Format == "gptq_v2" {
		offset = 0
	}
	maxq := float32(int(1)<<opt.Bits - 1)
	lo := make([]float32, groups*out)
	hi := make([]float32, groups*out)
	for k := range in {
		g := gidx[k]
		for n := range out {
			v := w[k*out+n]
			lo[g*out+n] = min(lo[g*out+n], v)
			hi[g*out+n] = max(hi[g*out+n], v)
		}
	}
	scales := make([]float32, groups*out)
	zeros := make([]int32, groups*out)
	for i := range scales {
		xmin, xmax := lo[i], hi[i]
		if opt.Sym {
			xmax = max(-xmin, xmax)
			if xmin < 0 {
				xmin = -xmax
			}
		}
		if xmin == 0 && xmax == 0 {
			xmin, xmax = -1, 1
		}
		// Round the scale to float16 first, so the grid is the one dequantization
		// uses, and upwards, so the grid still spans [xmin, xmax].
		exact := (xmax - xmin) / maxq
		h := half.FromFloat32(exact)
		if half.ToFloat32(h) < exact {
			h++ // positive, so the next bit pattern is the next float16 up
		}
		s := half.ToFloat32(h)
		z := float32(math.Round(float64(-xmin / s)))
		if opt.Sym {
			z = (maxq + 1) / 2
		}
		zeros[i] = int32(min(max(z, float32(offset)), maxq+float32(offset)))
		scales[i] = s
	}
	qw := make([]uint32, in*opt.Bits/32*out)
	for k := range in {
		g := gidx[k]
		for n := range out {
			s, z := scales[g*out+n], float32(zeros[g*out+n])
			q := min(max(float32(math.Round(float64(w[k*out+n]/s)))+z, 0), maxq)
			gptq.Insert(func(i int) *uint32 { return &qw[i*out+n] }, k, opt.Bits, uint32(q))
		}
	}
	zwords := out * opt.Bits / 32
	qz := make([]uint32, groups*zwords)
	for g := range groups {
		for n := range out {
			gptq.Insert(func(i int) *uint32 { return &qz[g*zwords+i] }, n, opt.Bits, uint32(zeros[g*out+n]-offset))
		}
	}
	res := engine.QuantWeight{
		Name: name, In: in, Out: out, Bits: opt.Bits, GroupSize: G, ZeroOffset: offset,
		QWeight: wordsBytes(qw), QZeros: wordsBytes(qz), Scales: make([]byte, 2*len(scales)),
		GIdx: make([]byte, 4*in),
	}
	half.Encode(res.Scales, scales)
	for k, g := range gidx {
		binary.LittleEndian.PutUint32(res.GIdx[4*k:], uint32(g))
	}
	return res, nil
}

func wordsBytes(w []uint32) []byte {
	b := make([]byte, 0, 4*len(w))
	for _, v := range w {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func checkPerm(p []int, n int) error {
	if len(p) != n {
		return fmt.Errorf("permutation of %d rows for %d", len(p), n)
	}
	seen := make([]bool, n)
	for _, k := range p {
		if k < 0 || k >= n || seen[k] {
			return fmt.Errorf("not a permutation: row %d", k)
		}
		seen[k] = true
	}
	return nil
}

// u32 reads little-endian word i of b.
func u32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }

// Dequantize expands a layer into float32 weights, row-major [In, Out]: W[k,n] =
// scale[g,n] × (q[k,n] − (z[g,n] + ZeroOffset)) with g = GIdx[k]. It is the plain
// reference form; backends compute from the packed weights instead.
func Dequantize(w engine.QuantWeight) []float32 {
	in, out, bits := w.In, w.Out, w.Bits
	zwords := out * bits / 32
	scales := make([]float32, w.Groups()*out)
	half.Decode(scales, w.Scales)
	res := make([]float32, in*out)
	for k := range in {
		g := int(int32(u32(w.GIdx, k)))
		for n := range out {
			q := gptq.Extract(func(i int) uint32 { return u32(w.QWeight, i*out+n) }, k, bits)
			z := gptq.Extract(func(i int) uint32 { return u32(w.QZeros, g*zwords+i) }, n, bits)
			res[k*out+n] = scales[g*out+n] * (float32(q) - float32(int32(z)+w.ZeroOffset))
		}
	}
	return res
}
