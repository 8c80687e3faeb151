package gptq

import (
	"encoding/binary"
	"fmt"

	"github.com/rewoo-agent/agent/engine"
)

// ActOrder reads an act-order layer's g_idx, for the backends: the group of each
// input row, checked to lie in [0, w.Groups()), and perm, the rows sorted by group
// (stable, so the rows of one group keep their order), nil when g_idx is already
// non-decreasing. Sorted row i is input row perm[i] and x·W = x[perm]·W[perm], so a
// backend that wants each group's rows contiguous reorders the weight rows once at
// load (MakeSequential on the host, a kernel on a device) and gathers its input
// through perm.
func ActOrder(w engine.QuantWeight) (groups, perm []int32, err error) {
	groups, sorted, err := readGIdx(w)
	if err != nil || sorted {
		return groups, nil, err
	}
	// A counting sort: stable, and linear in the rows.
	start := make([]int32, w.Groups()+1)
	for _, g := range groups {
		start[g+1]++
	}
	for g := 1; g < len(start); g++ {
		start[g] += start[g-1]
	}
	perm = make([]int32, w.In)
	for k, g := range groups {
		perm[start[g]] = int32(k)
		start[g]++
	}
	return groups, perm, nil
}

// readGIdx decodes g_idx, checking every group, and reports whether it is
// non-decreasing.
func readGIdx(w engine.QuantWeight) (groups []int32, sorted bool, err error) {
	if len(w.GIdx) != 4*w.In {
		return nil, false, fmt.Errorf("%s.g_idx: %d bytes for %d rows", w.Name, len(w.GIdx), w.In)
	}
	groups = make([]int32, w.In)
	sorted = true
	for k := range groups {
		g := int32(binary.LittleEndian.Uint32(w.GIdx[4*k:]))
		if g < 0 || int(g) >= w.Groups() {
			return nil, false, fmt.Errorf("%s.g_idx: row %d is in group %d, outside 0..%d", w.Name, k, g, w.Groups()-1)
		}
		groups[k] = g
		sorted = sorted && (k == 0 || g >= groups[k-1])
	}
	return groups, sorted, nil
}

// MakeSequential reorders an act-order layer's input rows by group (ActOrder's
// perm), as ExLlama's make_sequential does, so each group's rows are contiguous: it
// returns the repacked layer (g_idx non-decreasing) and perm, where sorted row i is
// original row perm[i], so x·W = x[perm]·W'. A layer whose g_idx is already
// non-decreasing comes back unchanged with a nil perm.
func MakeSequential(w engine.QuantWeight) (engine.QuantWeight, []int32, error) {
	groups, perm, err := ActOrder(w)
	if err != nil || perm == nil {
		return w, nil, err
	}
	out := w.Out
	src := make([]uint32, len(w.QWeight)/4)
	for i := range src {
		src[i] = binary.LittleEndian.Uint32(w.QWeight[4*i:])
	}
	dst := make([]uint32, len(src))
	for n := range out {
		col := func(i int) uint32 { return src[i*out+n] }
		for i, k := range perm {
			Insert(func(r int) *uint32 { return &dst[r*out+n] }, i, w.Bits, Extract(col, int(k), w.Bits))
		}
	}
	res := w
	res.QWeight = wordsBytes(dst)
	res.GIdx = make([]byte, 4*w.In)
	for i, k := range perm {
		binary.LittleEndian.PutUint32(res.GIdx[4*i:], uint32(groups[k]))
	}
	return res, perm, nil
}

// CheckWeight reports whether w is a well-formed layer: a layout Check accepts and
// tensors of exactly the sizes it gives (qweight, qzeros, scales, g_idx).
func CheckWeight(w engine.QuantWeight) error {
	l := Layout{In: w.In, Out: w.Out, Bits: w.Bits, GroupSize: w.GroupSize}
	if err := l.Check(); err != nil {
		return fmt.Errorf("%s: %w", w.Name, err)
	}
	if w.GroupSize <= 0 {
		return fmt.Errorf("%s: group size %d (a QuantWeight's is In for one group)", w.Name, w.GroupSize)
	}
	groups := w.Groups()
	for _, c := range []struct {
		name    string
		got, at int
	}{
		{"qweight", len(w.QWeight), 4 * w.In * w.Bits / 32 * w.Out},
		{"qzeros", len(w.QZeros), 4 * groups * w.Out * w.Bits / 32},
		{"scales", len(w.Scales), 2 * groups * w.Out},
		{"g_idx", len(w.GIdx), 4 * w.In},
	} {
		if c.got != c.at {
			return fmt.Errorf("%s.%s: %d bytes, want %d", w.Name, c.name, c.got, c.at)
		}
	}
	return nil
}
