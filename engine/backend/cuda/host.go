//go:build cuda

package cuda

// #cgo LDFLAGS: -lcuda
// #include <stdlib.h>
// #include <cuda.h>
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Pinned host memory, CUDA graphs and the dynamic shared memory limits of kernels,
// which gorgonia.org/cu does not wrap. Call these on the context's thread.

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

// sharedOptin is the most shared memory one block of the context's device may have
// when its kernel asks for it (setMaxShared): 227 KB on Hopper, against the 48 KB a
// launch gets by default.
func sharedOptin() (int, error) {
	var dev C.CUdevice
	if err := check("current device", C.cuCtxGetDevice(&dev)); err != nil {
		return 0, err
	}
	var v C.int
	err := check("shared memory per block (opt-in)", C.cuDeviceGetAttribute(&v, C.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev))
	return int(v), err
}

// setMaxShared lets launches of f ask for up to n bytes of dynamic shared memory.
// cu.Function holds only the driver's CUfunction, which is read through unsafe.
func setMaxShared(f cu.Function, n int) error {
	fn := *(*C.CUfunction)(unsafe.Pointer(&f))
	return check(fmt.Sprintf("allow %d bytes of dynamic shared memory", n),
		C.cuFuncSetAttribute(fn, C.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, C.int(n)))
}

// launchEarly launches f as cu.Function.Launch does (slots: the parameters' 8-byte
// slots), with programmatic stream serialization (compute capability 9.0): the
// launch may begin once every block of the kernel ahead of it in the stream has
// exited or run griddepcontrol.launch_dependents, before that kernel has finished, so
// f must run griddepcontrol.wait before it touches anything that kernel writes or
// reads.
func launchEarly(f cu.Function, grid [3]int, block, shared int, s cu.Stream, slots []uint64) error {
	n := max(len(slots), 1)
	argv := (*[1 << 16]C.uint64_t)(C.malloc(C.size_t(8 * n)))[:n:n]
	argp := (*[1 << 16]unsafe.Pointer)(C.malloc(C.size_t(8 * n)))[:n:n]
	defer C.free(unsafe.Pointer(&argv[0]))
	defer C.free(unsafe.Pointer(&argp[0]))
	for i, v := range slots {
		argv[i] = C.uint64_t(v)
		argp[i] = unsafe.Pointer(&argv[i])
	}
	// cgo passes no Go pointer inside what it passes: the attribute is C memory too.
	attr := (*C.CUlaunchAttribute)(C.calloc(1, C.size_t(unsafe.Sizeof(C.CUlaunchAttribute{}))))
	defer C.free(unsafe.Pointer(attr))
	attr.id = C.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
	*(*C.int)(unsafe.Pointer(&attr.value)) = 1 // programmaticStreamSerializationAllowed
	cfg := C.CUlaunchConfig{
		gridDimX: C.uint(grid[0]), gridDimY: C.uint(grid[1]), gridDimZ: C.uint(grid[2]),
		blockDimX: C.uint(block), blockDimY: 1, blockDimZ: 1,
		sharedMemBytes: C.uint(shared), hStream: cstream(s), attrs: attr, numAttrs: 1,
	}
	fn := *(*C.CUfunction)(unsafe.Pointer(&f))
	return check("launch (programmatic serialization)", C.cuLaunchKernelEx(&cfg, fn, &argp[0], nil))
}
