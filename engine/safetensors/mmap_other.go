//go:build !unix

package safetensors

import (
	"io"
	"os"
)

// mapFile reads the file where mmap is not available (not a target of this project's
// large models, but keeps the pure-Go build working everywhere).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
