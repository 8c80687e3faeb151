package gptq_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
)

func gidx(groups ...int32) []byte {
	b := make([]byte, 4*len(groups))
	for i, g := range groups {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(g))
	}
	return b
}

func TestActOrder(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     int
		group  int
		g      []byte
		groups []int32
		perm   []int32
		err    string
	}{
		{"sequential", 4, 2, gidx(0, 0, 1, 1), []int32{0, 0, 1, 1}, nil, ""},
		{"act-order, stable", 6, 2, gidx(1, 0, 2, 0, 1, 2), []int32{1, 0, 2, 0, 1, 2}, []int32{1, 3, 0, 4, 2, 5}, ""},
		{"one group", 3, 3, gidx(0, 0, 0), []int32{0, 0, 0}, nil, ""},
		{"group past the last", 4, 2, gidx(0, 0, 1, 3), nil, nil, "l.g_idx: row 3 is in group 3, outside 0..1"},
		{"negative group", 4, 2, gidx(0, -1, 1, 1), nil, nil, "l.g_idx: row 1 is in group -1, outside 0..1"},
		{"short", 4, 2, gidx(0, 0, 1), nil, nil, "l.g_idx: 12 bytes for 4 rows"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := engine.QuantWeight{Name: "l", In: c.in, GroupSize: c.group, GIdx: c.g}
			groups, perm, err := gptq.ActOrder(w)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(groups, c.groups) || !slices.Equal(perm, c.perm) {
				t.Fatalf("ActOrder = %v, %v, %v; want %v, %v", groups, perm, err, c.groups, c.perm)
			}
		})
	}
}

func TestCheckWeight(t *testing.T) {
	good, err := gptqtest.Quantize("l", make([]float32, 64*32), 64, 32, gptqtest.PackOptions{Bits: 4, GroupSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	if err := gptq.CheckWeight(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mutate func(w *engine.QuantWeight)
		want   string
	}{
		{"bits", func(w *engine.QuantWeight) { w.Bits = 5 }, "5-bit"},
		{"group -1", func(w *engine.QuantWeight) { w.GroupSize = -1 }, "group size -1"},
		{"qweight", func(w *engine.QuantWeight) { w.QWeight = w.QWeight[4:] }, "l.qweight:"},
		{"qzeros", func(w *engine.QuantWeight) { w.QZeros = append(w.QZeros, 0, 0, 0, 0) }, "l.qzeros:"},
		{"scales", func(w *engine.QuantWeight) { w.Scales = nil }, "l.scales:"},
		{"g_idx", func(w *engine.QuantWeight) { w.GIdx = w.GIdx[:8] }, "l.g_idx:"},
		{"size", func(w *engine.QuantWeight) { w.In = 60 }, "multiples of 8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := good
			c.mutate(&w)
			if err := gptq.CheckWeight(w); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// TestMakeSequential checks that the reordered layer, applied to the gathered input,
// holds the same weights row for row.
func TestMakeSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, bits := range []int{2, 3, 4, 8} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			const in, out = 128, 32
			w := make([]float32, in*out)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			q, err := gptqtest.Quantize("l", w, in, out, gptqtest.PackOptions{Bits: bits, GroupSize: 32, Perm: rng.Perm(in)})
			if err != nil {
				t.Fatal(err)
			}
			s, perm, err := gptq.MakeSequential(q)
			if err != nil {
				t.Fatal(err)
			}
			if perm == nil {
				t.Fatal("act-order layer came back unsorted")
			}
			a, b := gptqtest.Dequantize(q), gptqtest.Dequantize(s)
			for i, k := range perm {
				if !slicesEqual(b[i*out:(i+1)*out], a[int(k)*out:(int(k)+1)*out]) {
					t.Fatalf("sorted row %d differs from original row %d", i, k)
				}
				if g := binary.LittleEndian.Uint32(s.GIdx[4*i:]); int(g) != i/32 {
					t.Fatalf("sorted g_idx[%d] = %d", i, g)
				}
			}
			if _, again, _ := gptq.MakeSequential(s); again != nil {
				t.Error("sorted layer sorted again")
			}
		})
	}
}

func slicesEqual(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestActOrderRandom: for random act-order g_idx, perm is a permutation that visits
// the groups in order and each group's rows in their original order.
func TestActOrderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for range 50 {
		in, group := 32*(1+rng.IntN(40)), 32*(1+rng.IntN(4))
		groups := make([]int32, in)
		for i, k := range rng.Perm(in) {
			groups[k] = int32(i / group)
		}
		w := engine.QuantWeight{Name: "l", In: in, GroupSize: group, GIdx: gidx(groups...)}
		got, perm, err := gptq.ActOrder(w)
		if err != nil || !slices.Equal(got, groups) {
			t.Fatalf("ActOrder: %v, groups %v", err, got)
		}
		if perm == nil && !slices.IsSorted(groups) {
			t.Fatal("no permutation for unsorted groups")
		}
		seen := make([]bool, in)
		for i, k := range perm {
			if seen[k] {
				t.Fatalf("row %d twice", k)
			}
			seen[k] = true
			if i > 0 {
				a, b := perm[i-1], k
				if groups[a] > groups[b] || groups[a] == groups[b] && a > b {
					t.Fatalf("sorted rows %d, %d: rows %d (group %d), %d (group %d)", i-1, i, a, groups[a], b, groups[b])
				}
			}
		}
	}
}
