package gptq

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestNonFiniteF16 plants every kind of non-finite half (NaN, +Inf, -Inf, NaN with
// the sign bit) at every position of buffers of every length up to 80 bytes, among
// finite values that come close (the largest finite ±65504, subnormals, ±0), and
// checks the scan finds the first one, and nothing in clean buffers.
func TestNonFiniteF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	finite := []uint16{0x0000, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfbff, 0x3c00, 0xbc00, 0x7800}
	for _, bad := range []uint16{0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff, 0x7fff} {
		for n := range 40 {
			clean := make([]byte, 2*n)
			for i := range n {
				binary.LittleEndian.PutUint16(clean[2*i:], finite[rng.IntN(len(finite))])
			}
			if got := nonFiniteF16(clean); got != -1 {
				t.Fatalf("%d finite halves: non-finite at %d", n, got)
			}
			for at := range n {
				b := append([]byte(nil), clean...)
				binary.LittleEndian.PutUint16(b[2*at:], bad)
				if at+1 < n && rng.IntN(2) == 0 { // a second one later changes nothing
					binary.LittleEndian.PutUint16(b[2*(n-1):], 0x7c00)
				}
				if got := nonFiniteF16(b); got != at {
					t.Fatalf("%#04x at %d of %d: found at %d", bad, at, n, got)
				}
			}
		}
	}
	// An odd byte at the end is not half of a value.
	if got := nonFiniteF16([]byte{0x00, 0x3c, 0x7c}); got != -1 {
		t.Fatalf("trailing byte read as a value: %d", got)
	}
}

// BenchmarkNonFiniteF16 is the scan over 64 MiB of float16 values: at b.SetBytes it
// reports the speed, from which the cost for a model follows (the text on
// Checkpoint.Dense's check in BENCHMARKS.md).
func BenchmarkNonFiniteF16(b *testing.B) {
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 2 {
		binary.LittleEndian.PutUint16(buf[i:], uint16(i)&0x3bff)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if nonFiniteF16(buf) != -1 {
			b.Fatal("non-finite value in a finite buffer")
		}
	}
}
