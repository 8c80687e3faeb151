package half

import (
	"math"
	"testing"
)

// reference decodes float16 bits from the definition: (-1)^s × 2^(e-15) × 1.m, or
// 2^-14 × 0.m for subnormals.
func reference(h uint16) float64 {
	s, e, m := h>>15, int(h>>10&0x1f), float64(h&0x3ff)
	var v float64
	switch {
	case e == 0x1f && m == 0:
		v = math.Inf(1)
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		v = math.Ldexp(m/1024, -14)
	default:
		v = math.Ldexp(1+m/1024, e-15)
	}
	if s == 1 {
		v = -v
	}
	return v
}

func TestToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got, want := float64(ToFloat32(h)), reference(h)
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestFromFloat32RoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		if h>>10&0x1f == 0x1f && h&0x3ff != 0 {
			continue // NaN payloads need not survive
		}
		if got := FromFloat32(ToFloat32(h)); got != h {
			t.Fatalf("%#04x: round trip gave %#04x", h, got)
		}
	}
}

// TestFromFloat32Nearest checks rounding against a brute-force nearest search over
// all finite float16 values, ties to the even mantissa.
func TestFromFloat32Nearest(t *testing.T) {
	cases := []float32{0.1, -0.1, 1.0 / 3, 65504, 65519.99, 65520, 1e-8, 2.98e-8, 2.99e-8,
		6.1e-5, 3e-5, 1 + 1.0/2048, 1 + 3.0/2048, -2.5e-7, 1234.5678, 1e10, -1e10}
	for v := float32(-70000); v < 70000; v += 977.7 {
		cases = append(cases, v, v/1e4, v/1e8)
	}
	for _, f := range cases {
		got := FromFloat32(f)
		best, bestErr := uint16(0), math.Inf(1)
		for i := range 1 << 16 {
			h := uint16(i)
			r := reference(h)
			if math.IsNaN(r) || math.IsInf(r, 0) {
				continue
			}
			d := math.Abs(r - float64(f))
			if d < bestErr || (d == bestErr && h&1 == 0 && best&1 == 1) {
				best, bestErr = h, d
			}
		}
		if math.Abs(float64(f)) >= 65520 {
			best = 0x7c00 | uint16(math.Float32bits(f)>>16)&0x8000
		}
		if float64(ToFloat32(got)) != float64(ToFloat32(best)) {
			t.Errorf("FromFloat32(%g) = %#04x (%g), want %#04x (%g)", f, got, ToFloat32(got), best, ToFloat32(best))
		}
	}
}

func TestSpecials(t *testing.T) {
	if h := FromFloat32(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %#04x", h)
	}
	if h := FromFloat32(float32(math.Inf(-1))); h != 0xfc00 {
		t.Errorf("-Inf became %#04x", h)
	}
	b := make([]byte, 4)
	Encode(b, []float32{1, -2})
	out := make([]float32, 2)
	Decode(out, b)
	if out[0] != 1 || out[1] != -2 || b[1] != 0x3c {
		t.Errorf("Encode/Decode: bytes %x, values %v", b, out)
	}
}
