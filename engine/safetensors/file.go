package safetensors

import (
	"fmt"
	"io"
	"os"
)

// File is an open, memory-mapped safetensors file.
type File struct {
	Path string
	Header
	data  []byte // the whole file, mapped
	unmap func() error
}

// Open maps the file at path and validates its header.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	// Read the header first, so a corrupt file is refused before it is mapped.
	prefix := make([]byte, min(size, 8))
	if _, err := io.ReadFull(f, prefix); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if size >= 8 {
		n := int64(prefix[0]) | int64(prefix[1])<<8 | int64(prefix[2])<<16 | int64(prefix[3])<<24 |
			int64(prefix[4])<<32 | int64(prefix[5])<<40 | int64(prefix[6])<<48 | int64(prefix[7])<<56
		if n >= 0 && n <= size-8 && n <= maxHead {
			prefix = make([]byte, 8+n)
			if _, err := f.ReadAt(prefix, 0); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	h, err := ParseHeader(prefix, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data, unmap, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return &File{Path: path, Header: *h, data: data, unmap: unmap}, nil
}

// Tensor returns the named tensor; its Data is valid until Close.
func (f *File) Tensor(name string) (Tensor, error) {
	info, ok := f.Tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%s: %w: %q", f.Path, ErrMissing, name)
	}
	base := f.DataStart
	return Tensor{Info: info, File: f.Path, Data: f.data[base+info.Begin : base+info.End : base+info.End]}, nil
}

// Close unmaps the file; tensors' Data must not be used afterwards.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	return err
}
