//go:build cuda

// Package cuinit initializes the CUDA driver before gorgonia.org/cu's package
// initialization does, to say on standard error why a CUDA build cannot start: cu's
// init calls cuInit and, when it fails (no device, no usable driver), prints the
// error code on standard output and exits before main runs, so even --help is lost.
// Go initializes packages in the order of their import paths wherever their imports
// allow, so this one (github.com/...) runs before gorgonia.org/cu; engine/backend/cuda
// imports it for that alone. It cannot keep the process alive: cu's init would exit
// anyway. On a machine without a GPU, use a build without the cuda tag.
package cuinit

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
)

func init() {
	r := C.cuInit(0)
	if r == C.CUDA_SUCCESS {
		return
	}
	name := "unknown error"
	var s *C.char
	if C.cuGetErrorName(r, &s) == C.CUDA_SUCCESS {
		name = C.GoString(s)
	}
	fmt.Fprintf(os.Stderr, "%s: built with the cuda tag, which needs the CUDA driver to see a GPU, but cuInit failed: %s (%d); on a machine without one, build without -tags cuda (the CPU backend)\n",
		filepath.Base(os.Args[0]), name, int(r))
	os.Exit(1)
}
