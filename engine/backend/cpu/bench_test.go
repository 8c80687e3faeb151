package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/internal/half"
)

// BenchmarkMemCopy measures this machine's memory bandwidth, the yardstick of the
// matrix-vector products: bytes read plus bytes written per second.
func BenchmarkMemCopy(b *testing.B) {
	src, dst := make([]byte, 256<<20), make([]byte, 256<<20)
	for i := range src {
		src[i] = byte(i)
	}
	for b.Loop() {
		copy(dst, src)
	}
	b.ReportMetric(float64(2*len(src))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// randomLayer packs random levels directly (no float weights: a 65B layer would
// need gigabytes), with symmetric zeros and random scales.
func randomLayer(in, out, bits, group int) engine.QuantWeight {
	rng := rand.New(rand.NewPCG(uint64(in), uint64(out)))
	l := gptq.Layout{In: in, Out: out, Bits: bits, GroupSize: group}
	w := engine.QuantWeight{Name: "bench", In: in, Out: out, Bits: bits, GroupSize: group, ZeroOffset: 1,
		QWeight: make([]byte, 4*l.QWeight()[0]*out), QZeros: make([]byte, 4*l.Groups()*l.QZeros()[1]),
		Scales: make([]byte, 2*l.Groups()*out), GIdx: gptq.SequentialGIdx(in, group)}
	for i := range w.QWeight {
		w.QWeight[i] = byte(rng.Uint32())
	}
	for i := range w.QZeros {
		w.QZeros[i] = 0x77 // any pattern; dequantization does not branch on it
	}
	for i := 0; i < len(w.Scales); i += 2 {
		h := half.FromFloat32(0.01 + 0.01*rng.Float32())
		w.Scales[i], w.Scales[i+1] = byte(h), byte(h>>8)
	}
	return w
}

// BenchmarkQuantMatVec multiplies one token (and a batch of 16) by LLaMA-7B and 65B
// linear shapes at every bit width and reports the packed weight bytes read per
// second.
func BenchmarkQuantMatVec(b *testing.B) {
	shapes := []struct {
		name    string
		in, out int
	}{
		{"7B/q_proj", 4096, 4096}, {"7B/up_proj", 4096, 11008}, {"7B/down_proj", 11008, 4096},
		{"65B/q_proj", 8192, 8192}, {"65B/up_proj", 8192, 22016}, {"65B/down_proj", 22016, 8192},
	}
	for _, s := range shapes {
		for _, bits := range []int{4, 3, 2, 8} {
			for _, T := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/%dbit-128g/T%d", s.name, bits, T), func(b *testing.B) {
					qw := randomLayer(s.in, s.out, bits, 128)
					q, err := newQuant(qw)
					if err != nil {
						b.Fatal(err)
					}
					x := make([]float32, T*s.in)
					for i := range x {
						x[i] = float32(i%7) - 3
					}
					dst := make([]float32, T*s.out)
					for b.Loop() {
						q.mul(dst, x, T)
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(len(qw.QWeight))/sec/1e9, "GB/s")
					b.ReportMetric(float64(T)*float64(s.in)*float64(s.out)/sec/1e9, "Gweights/s")
				})
			}
		}
	}
}
