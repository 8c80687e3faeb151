package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Write writes tensors (their Name, DType, Shape and Data; Begin and End are
// computed) in the given order, with optional metadata, as a safetensors file. The
// header is padded with spaces to a multiple of 8 bytes, as the reference
// implementation does, so the data is aligned.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	head := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		head["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if _, dup := head[t.Name]; dup || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if n := t.Elements() * int64(t.DType.Size()); n != int64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %q: %s%v needs %d bytes, have %d", t.Name, t.DType, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		head[t.Name] = map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": []int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	js, err := json.Marshal(head)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	bw := bufio.NewWriter(w)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	bw.Write(n[:])
	bw.Write(js)
	for _, t := range tensors {
		if _, err := bw.Write(t.Data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes tensors to a new file at path (see Write).
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, tensors, metadata); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
