package gptq

import (
	"encoding/binary"
	"sort"

	"github.com/rewoo-agent/agent/engine"
)

// MakeSequential reorders an act-order layer's input rows by group, as ExLlama's
// make_sequential does, so each group's rows are contiguous: it returns the
// repacked layer (g_idx non-decreasing) and perm, where sorted row i is original row
// perm[i], so x·W = x[perm]·W'. A layer whose g_idx is already non-decreasing comes
// back unchanged with a nil perm.
func MakeSequential(w engine.QuantWeight) (engine.QuantWeight, []int32) {
	g := func(k int) int32 { return int32(binary.LittleEndian.Uint32(w.GIdx[4*k:])) }
	sorted := true
	for k := 1; k < w.In && sorted; k++ {
		sorted = g(k-1) <= g(k)
	}
	if sorted {
		return w, nil
	}
	perm := make([]int32, w.In)
	for k := range perm {
		perm[k] = int32(k)
	}
	sort.SliceStable(perm, func(a, b int) bool { return g(int(perm[a])) < g(int(perm[b])) })
	out := w.Out
	src := make([]uint32, len(w.QWeight)/4)
	for i := range src {
		src[i] = binary.LittleEndian.Uint32(w.QWeight[4*i:])
	}
	dst := make([]uint32, len(src))
	for n := range out {
		col := func(i int) uint32 { return src[i*out+n] }
		for i, k := range perm {
			insert(func(r int) *uint32 { return &dst[r*out+n] }, i, w.Bits, Extract(col, int(k), w.Bits))
		}
	}
	res := w
	res.QWeight = wordsBytes(dst)
	res.GIdx = make([]byte, 4*w.In)
	for i, k := range perm {
		binary.LittleEndian.PutUint32(res.GIdx[4*i:], uint32(g(int(k))))
	}
	return res, perm
}
