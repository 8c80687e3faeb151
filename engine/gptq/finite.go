package gptq

import (
	"encoding/binary"
	"fmt"

	"github.com/rewoo-agent/agent/engine/internal/half"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

// checkFinite refuses a float16 tensor holding a NaN or an infinity, naming the file,
// the tensor and the first such element: a model with one computes NaN logits, which
// would otherwise come out as a silent wrong answer.
func checkFinite(t safetensors.Tensor) error {
	i := nonFiniteF16(t.Data)
	if i < 0 {
		return nil
	}
	v := half.ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
	at := fmt.Sprintf("element %d", i)
	if len(t.Shape) == 2 {
		at = fmt.Sprintf("row %d, column %d", i/t.Shape[1], i%t.Shape[1])
	}
	return fmt.Errorf("%s: %w: tensor %q has %v at %s", t.File, ErrCheckpoint, t.Name, v, at)
}

// nonFiniteF16 returns the index of the first float16 NaN or infinity (exponent bits
// all ones) in b, little-endian, or -1. It reads the bytes in place, four 64-bit
// words at a time, each word's four halves at once: a half's exponent bits plus
// 0x0400 reach bit 15 exactly when they are all ones, and never carry out of the
// half.
func nonFiniteF16(b []byte) int {
	const exp, one, tops = 0x7c007c007c007c00, 0x0400040004000400, 0x8000800080008000
	bad := func(w uint64) uint64 { return (w&exp + one) & tops }
	i := 0
	for ; i+32 <= len(b); i += 32 {
		c := b[i : i+32 : i+32]
		if bad(binary.LittleEndian.Uint64(c[0:]))|bad(binary.LittleEndian.Uint64(c[8:]))|
			bad(binary.LittleEndian.Uint64(c[16:]))|bad(binary.LittleEndian.Uint64(c[24:])) != 0 {
			break
		}
	}
	for ; i+2 <= len(b); i += 2 {
		if binary.LittleEndian.Uint16(b[i:])&0x7c00 == 0x7c00 {
			return i / 2
		}
	}
	return -1
}
