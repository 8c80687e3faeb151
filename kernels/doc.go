// Package kernels holds the CUDA C sources of the GPU backend and the PTX generated
// from them, embedded so the binary needs only the driver at run time, with the
// parameter list of every PTX entry (Entries, generated) that launches are checked
// against (CheckLaunch).
package kernels
