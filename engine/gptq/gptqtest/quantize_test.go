package gptqtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// autogptqPack transcribes AutoGPTQ's QuantLinear.pack loop (qlinear_cuda_old.py):
// intweight is [in][out] integer levels; it returns qweight as [in*bits/32][out].
func autogptqPack(intweight [][]uint32, bits int) [][]uint32 {
	in, out := len(intweight), len(intweight[0])
	qweight := make([][]uint32, in*bits/32)
	for r := range qweight {
		qweight[r] = make([]uint32, out)
	}
	for col := range out {
		iw := func(k int) uint32 { return intweight[k][col] }
		i, row := 0, 0
		for row < len(qweight) {
			switch bits {
			case 2, 4, 8:
				for j := i; j < i+32/bits; j++ {
					qweight[row][col] |= iw(j) << (bits * (j - i))
				}
				i += 32 / bits
				row++
			case 3:
				for j := i; j < i+10; j++ {
					qweight[row][col] |= iw(j) << (3 * (j - i))
				}
				i += 10
				qweight[row][col] |= iw(i) << 30
				row++
				qweight[row][col] |= (iw(i) >> 2) & 1
				i++
				for j := i; j < i+10; j++ {
					qweight[row][col] |= iw(j) << (3*(j-i) + 1)
				}
				i += 10
				qweight[row][col] |= iw(i) << 31
				row++
				qweight[row][col] |= (iw(i) >> 1) & 3
				i++
				for j := i; j < i+10; j++ {
					qweight[row][col] |= iw(j) << (3*(j-i) + 2)
				}
				i += 10
				row++
			}
		}
	}
	return qweight
}

// refLevel reads value k of a column of words bit by bit, from the definition "value
// k occupies bits k*bits.. of the little-endian stream of 32-bit words".
func refLevel(word func(i int) uint32, k, bits int) uint32 {
	var v uint32
	for j := range bits {
		b := k*bits + j
		v |= (word(b/32) >> (b % 32) & 1) << j
	}
	return v
}

// refDequantize is an independent dequantizer: W[k,n] = s[g,n]·(q[k,n] − z[g,n] − offset).
func refDequantize(w engine.QuantWeight) [][]float64 {
	word := func(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	res := make([][]float64, w.In)
	zw := w.Out * w.Bits / 32
	for k := range res {
		res[k] = make([]float64, w.Out)
		g := int(word(w.GIdx, k))
		for n := range w.Out {
			q := refLevel(func(i int) uint32 { return word(w.QWeight, i*w.Out+n) }, k, w.Bits)
			z := refLevel(func(i int) uint32 { return word(w.QZeros, g*zw+i) }, n, w.Bits)
			s := half.ToFloat32(binary.LittleEndian.Uint16(w.Scales[2*(g*w.Out+n):]))
			res[k][n] = float64(s) * (float64(q) - float64(z) - float64(w.ZeroOffset))
		}
	}
	return res
}

func TestPackRoundTrip(t *testing.T) {
	const in, out = 384, 64
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{2, 3, 4, 8} {
		for _, group := range []int{-1, 32, 64, 128, 96, 384} {
			for _, variant := range []string{"sym", "asym", "asym-v2", "actorder", "actorder-asym"} {
				t.Run(fmt.Sprintf("%dbit/g%d/%s", bits, group, variant), func(t *testing.T) {
					opt := PackOptions{Bits: bits, GroupSize: group, Sym: variant == "sym" || variant == "actorder", Format: "gptq"}
					if variant == "asym-v2" {
						opt.Format = "gptq_v2"
					}
					if variant == "actorder" || variant == "actorder-asym" {
						opt.Perm = rng.Perm(in)
					}
					w := make([]float32, in*out)
					for i := range w {
						w[i] = float32(rng.NormFloat64() * 0.05)
					}
					q, err := Quantize("layer", w, in, out, opt)
					if err != nil {
						t.Fatal(err)
					}
					checkPacked(t, q, w, opt)
				})
			}
		}
	}
}

func checkPacked(t *testing.T, q engine.QuantWeight, w []float32, opt PackOptions) {
	t.Helper()
	in, out, bits := q.In, q.Out, q.Bits
	ref := refDequantize(q)
	got := Dequantize(q)
	// Recover the levels, repack them with AutoGPTQ's own loop, compare the words.
	levels := make([][]uint32, in)
	for k := range levels {
		levels[k] = make([]uint32, out)
		for n := range out {
			levels[k][n] = refLevel(func(i int) uint32 { return binary.LittleEndian.Uint32(q.QWeight[4*(i*out+n):]) }, k, bits)
		}
	}
	packed := autogptqPack(levels, bits)
	for r := range packed {
		for n := range out {
			if g := binary.LittleEndian.Uint32(q.QWeight[4*(r*out+n):]); g != packed[r][n] {
				t.Fatalf("qweight[%d,%d] = %#x, AutoGPTQ's packer gives %#x", r, n, g, packed[r][n])
			}
		}
	}
	G := q.GroupSize
	for k := range in {
		g := int(binary.LittleEndian.Uint32(q.GIdx[4*k:]))
		if opt.Perm == nil && g != k/G {
			t.Fatalf("g_idx[%d] = %d, want %d", k, g, k/G)
		}
		for n := range out {
			if float64(got[k*out+n]) != ref[k][n] {
				t.Fatalf("W[%d,%d]: Dequantize %v, reference %v", k, n, got[k*out+n], ref[k][n])
			}
			s := float64(half.ToFloat32(binary.LittleEndian.Uint16(q.Scales[2*(g*out+n):])))
			if d := math.Abs(ref[k][n] - float64(w[k*out+n])); d > s/2*1.001+1e-7 {
				t.Fatalf("W[%d,%d] = %v quantized to %v: error %v beyond half a step (%v)", k, n, w[k*out+n], ref[k][n], d, s/2)
			}
		}
	}
	if opt.Sym {
		// Every stored zero is 2^(bits-1) - 1 in v1 (0x77777777 at 4 bits).
		want := uint32(1)<<(bits-1) - 1
		for n := range out {
			if z := refLevel(func(i int) uint32 { return binary.LittleEndian.Uint32(q.QZeros[4*i:]) }, n, bits); z != want {
				t.Fatalf("symmetric zero %d stored as %d, want %d", n, z, want)
			}
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	cases := []struct {
		name    string
		in, out int
		opt     PackOptions
		want    string
	}{
		{"5 bits", 64, 64, PackOptions{Bits: 5, GroupSize: -1}, "5-bit"},
		{"3-bit rows", 48, 64, PackOptions{Bits: 3, GroupSize: -1}, "multiples of 32"},
		{"4-bit columns", 64, 12, PackOptions{Bits: 4, GroupSize: -1}, "multiples of 8"},
		{"bad perm", 64, 64, PackOptions{Bits: 4, GroupSize: 32, Perm: make([]int, 64)}, "not a permutation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Quantize("x", make([]float32, c.in*c.out), c.in, c.out, c.opt)
			if err == nil || !contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
