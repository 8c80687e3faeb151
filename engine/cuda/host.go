//go:build cuda

package cuda

// #cgo LDFLAGS: -lcuda
// #include <cuda.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// Pinned host memory, which gorgonia.org/cu does not wrap. Call these on the context's
// thread.

// pinned is page-locked host memory, which the copy engine reads at full speed.
type pinned struct {
	p unsafe.Pointer
	n int
}

func allocPinned(n int) (pinned, error) {
	var p unsafe.Pointer
	if r := C.cuMemHostAlloc(&p, C.size_t(n), 0); r != C.CUDA_SUCCESS {
		return pinned{}, check(fmt.Sprintf("allocate %d bytes of pinned host memory", n), r)
	}
	return pinned{p, n}, nil
}

func (h pinned) bytes() []byte { return unsafe.Slice((*byte)(h.p), h.n) }

func (h *pinned) free() {
	if h.p != nil {
		C.cuMemFreeHost(h.p)
		h.p = nil
	}
}

// check converts a driver status to an error naming what was being done.
func check(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	var name *C.char
	if C.cuGetErrorName(r, &name) != C.CUDA_SUCCESS || name == nil {
		return fmt.Errorf("cuda: %s: error %d", what, int(r))
	}
	return fmt.Errorf("cuda: %s: %s", what, C.GoString(name))
}
