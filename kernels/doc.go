// Package kernels holds the CUDA C sources of the GPU backend and the PTX generated
// from them, embedded so the binary needs only the driver at run time.
package kernels
