package gptq

import (
	"encoding/binary"
	"fmt"
)

// Layout gives the tensor shapes of a GPTQ linear layer of in×out weights at bits
// bits in groups of groupSize input rows (-1: one group).
type Layout struct {
	In, Out, Bits, GroupSize int
}

// Groups is the number of groups (scales rows).
func (l Layout) Groups() int { return (l.In + l.Group() - 1) / l.Group() }

// Group is the number of rows per group: GroupSize, or In for one group (-1).
func (l Layout) Group() int {
	if l.GroupSize == -1 {
		return l.In
	}
	return l.GroupSize
}

// QWeight is the shape of qweight: [In*Bits/32, Out].
func (l Layout) QWeight() []int { return []int{l.In * l.Bits / 32, l.Out} }

// QZeros is the shape of qzeros: [Groups, Out*Bits/32].
func (l Layout) QZeros() []int { return []int{l.Groups(), l.Out * l.Bits / 32} }

// Scales is the shape of scales: [Groups, Out].
func (l Layout) Scales() []int { return []int{l.Groups(), l.Out} }

// Check reports whether the layer can be stored in this layout: packed words hold
// whole runs of values (32 values per 3 words at 3 bits, 32/bits per word otherwise)
// along both the input rows (qweight) and the output columns (qzeros).
func (l Layout) Check() error {
	if err := CheckBits(l.Bits); err != nil {
		return err
	}
	if l.In <= 0 || l.Out <= 0 {
		return fmt.Errorf("bad layer size %d×%d", l.In, l.Out)
	}
	run := 32 / l.Bits
	if l.Bits == 3 {
		run = 32
	}
	if l.In%run != 0 || l.Out%run != 0 {
		return fmt.Errorf("%d-bit packing needs both dimensions (%d×%d) to be multiples of %d", l.Bits, l.In, l.Out, run)
	}
	if l.GroupSize != -1 && l.GroupSize <= 0 {
		return fmt.Errorf("group size %d", l.GroupSize)
	}
	return nil
}

// Extract returns value k of a packed stream: the words form one little-endian bit
// stream and value k occupies bits [k*bits, (k+1)*bits) (for 2, 4 and 8 bits a value
// never straddles a word; at 3 bits values 10 and 21 of each 3 words do).
func Extract(words func(i int) uint32, k, bits int) uint32 {
	pos := k * bits
	w, s := pos/32, pos%32
	v := words(w) >> s
	if s+bits > 32 {
		v |= words(w+1) << (32 - s)
	}
	return v & (1<<bits - 1)
}

// Insert ORs v into value k of a packed stream, the inverse of Extract on zeroed
// words.
func Insert(word func(i int) *uint32, k, bits int, v uint32) {
	pos := k * bits
	w, s := pos/32, pos%32
	*word(w) |= v << s
	if s+bits > 32 {
		*word(w + 1) |= v >> (32 - s)
	}
}

// wordsBytes is words as little-endian bytes.
func wordsBytes(w []uint32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}
