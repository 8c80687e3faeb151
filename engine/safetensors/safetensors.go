// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape and
// byte range, then the raw data. Files are memory-mapped, so a tensor's bytes are a
// view into the file rather than a copy on the Go heap; sharded checkpoints are read
// through their index (model.safetensors.index.json).
//
// Every inconsistency (a truncated file, a header larger than the file, a tensor
// whose byte range disagrees with its shape, overlapping tensors, an unknown dtype)
// is an error naming the file and, where there is one, the tensor.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
)

// DType is a tensor element type as the header spells it.
type DType string

// The dtypes of the safetensors specification.
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	maxHead       = 100 << 20 // the reference implementation's limit on the header size
)

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E4M3, F8E5M2:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64:
		return 8
	}
	return 0
}

// ErrFormat is wrapped by every error about malformed file contents.
var ErrFormat = errors.New("malformed safetensors")

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the tensor's byte range relative to the start of the data
	// (after the header).
	Begin, End int64
}

// Elements is the product of the shape (1 for a scalar).
func (i Info) Elements() int64 {
	n := int64(1)
	for _, d := range i.Shape {
		n *= int64(d)
	}
	return n
}

// Tensor is a tensor's description and its bytes (a view into the mapped file).
type Tensor struct {
	Info
	File string // the file it came from, for errors
	Data []byte
}

// Header is a parsed and validated header.
type Header struct {
	Tensors  map[string]Info
	Metadata map[string]string
	// DataStart is the file offset of the data (8 + header length).
	DataStart int64
}

// Names returns the tensor names, sorted.
func (h *Header) Names() []string {
	names := make([]string, 0, len(h.Tensors))
	for n := range h.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type rawEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ParseHeader reads and validates the header at the start of a file of fileSize
// bytes; prefix must hold at least the first min(fileSize, 8+header length) bytes.
// It never panics, whatever the input.
func ParseHeader(prefix []byte, fileSize int64) (*Header, error) {
	if fileSize < 8 || len(prefix) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the 8-byte header length", ErrFormat, fileSize)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > uint64(fileSize-8) {
		return nil, fmt.Errorf("%w: header of %d bytes is larger than the file (%d bytes)", ErrFormat, n, fileSize)
	}
	if n > maxHead {
		return nil, fmt.Errorf("%w: header of %d bytes exceeds the %d-byte limit", ErrFormat, n, maxHead)
	}
	if uint64(len(prefix)) < 8+n {
		return nil, fmt.Errorf("%w: header truncated", ErrFormat)
	}
	raw := prefix[8 : 8+n]
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrFormat)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	h := &Header{Tensors: make(map[string]Info, len(entries)), DataStart: int64(8 + n)}
	dataSize := fileSize - h.DataStart
	for name, msg := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return nil, fmt.Errorf("%w: __metadata__ must map strings to strings: %v", ErrFormat, err)
			}
			continue
		}
		info, err := parseEntry(name, msg, dataSize)
		if err != nil {
			return nil, err
		}
		h.Tensors[name] = info
	}
	if err := checkOverlap(h.Tensors); err != nil {
		return nil, err
	}
	return h, nil
}

func parseEntry(name string, msg json.RawMessage, dataSize int64) (Info, error) {
	var e rawEntry
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Info{}, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
	}
	size := e.DType.Size()
	if size == 0 {
		return Info{}, fmt.Errorf("%w: tensor %q: unknown dtype %q", ErrFormat, name, e.DType)
	}
	if len(e.DataOffsets) != 2 {
		return Info{}, fmt.Errorf("%w: tensor %q: data_offsets must be [begin, end]", ErrFormat, name)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin {
		return Info{}, fmt.Errorf("%w: tensor %q: bad data_offsets [%d, %d]", ErrFormat, name, begin, end)
	}
	if end > dataSize {
		return Info{}, fmt.Errorf("%w: tensor %q: data ends at %d, past the end of the data (%d bytes): file truncated?", ErrFormat, name, end, dataSize)
	}
	info := Info{Name: name, DType: e.DType, Shape: make([]int, len(e.Shape)), Begin: begin, End: end}
	want := uint64(size)
	for i, d := range e.Shape {
		if d < 0 || d > math.MaxInt32*int64(1<<16) {
			return Info{}, fmt.Errorf("%w: tensor %q: bad dimension %d", ErrFormat, name, d)
		}
		hi, lo := bits.Mul64(want, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return Info{}, fmt.Errorf("%w: tensor %q: shape %v overflows", ErrFormat, name, e.Shape)
		}
		want = lo
		info.Shape[i] = int(d)
	}
	if want != uint64(end-begin) {
		return Info{}, fmt.Errorf("%w: tensor %q: %s%v needs %d bytes, data_offsets give %d", ErrFormat, name, e.DType, e.Shape, want, end-begin)
	}
	return info, nil
}

func checkOverlap(tensors map[string]Info) error {
	infos := make([]Info, 0, len(tensors))
	for _, i := range tensors {
		if i.End > i.Begin {
			infos = append(infos, i)
		}
	}
	sort.Slice(infos, func(a, b int) bool { return infos[a].Begin < infos[b].Begin })
	for k := 1; k < len(infos); k++ {
		if infos[k].Begin < infos[k-1].End {
			return fmt.Errorf("%w: tensors %q and %q overlap", ErrFormat, infos[k-1].Name, infos[k].Name)
		}
	}
	return nil
}
