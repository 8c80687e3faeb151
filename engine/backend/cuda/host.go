//go:build cuda

package cuda

// #cgo LDFLAGS: -lcuda
// #include <cuda.h>
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Pinned host memory and CUDA graphs, which gorgonia.org/cu does not wrap. Call these
// on the context's thread.

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

// graph is an instantiated CUDA graph: the recorded launches of one forward step.
type graph struct{ exec C.CUgraphExec }

func cstream(s cu.Stream) C.CUstream { return C.CUstream(unsafe.Pointer(s.C())) }

func beginCapture(s cu.Stream) error {
	return check("begin graph capture", C.cuStreamBeginCapture(cstream(s), C.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL))
}

// endCapture ends the capture and instantiates what was recorded.
func endCapture(s cu.Stream) (graph, error) {
	var g C.CUgraph
	if err := check("end graph capture", C.cuStreamEndCapture(cstream(s), &g)); err != nil {
		return graph{}, err
	}
	defer C.cuGraphDestroy(g)
	var e C.CUgraphExec
	if err := check("instantiate graph", C.cuGraphInstantiateWithFlags(&e, g, 0)); err != nil {
		return graph{}, err
	}
	return graph{e}, nil
}

func (g graph) launch(s cu.Stream) error {
	return check("launch graph", C.cuGraphLaunch(g.exec, cstream(s)))
}

func (g graph) destroy() { C.cuGraphExecDestroy(g.exec) }

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
