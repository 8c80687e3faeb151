// Package half converts between IEEE 754 half precision (float16, the dtype of GPTQ
// scales, embeddings and norms) and float32.
package half

import "math"

// ToFloat32 returns the float32 value of the float16 bits h (exact).
func ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2^-24, exactly representable as a normal float32.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		return -f
	}
	return f
}

// FromFloat32 returns the float16 bits nearest to f (ties to even), saturating to
// infinity beyond the float16 range and keeping NaN a NaN.
func FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal or zero: shift the full significand (with its implicit bit) right.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: that is the right rounding
	}
	return sign | uint16(h)
}

// Decode converts little-endian float16 bytes into dst (len(src)/2 floats).
func Decode(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = ToFloat32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
	}
}

// Encode converts src into little-endian float16 bytes in dst (2×len(src) bytes).
func Encode(dst []byte, src []float32) {
	for i, f := range src {
		h := FromFloat32(f)
		dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
	}
}
