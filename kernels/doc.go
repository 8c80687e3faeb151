// Package kernels holds the CUDA C sources of the GPU backend and the PTX generated
// from them, embedded so the binary needs only the driver at run time, with the
// parameter list of every PTX entry (Entries, generated) that launches are checked
// against (CheckLaunch). The modules of Names are built for every target (compute_80
// and compute_90); those of Hopper (hopper.cu: the warp-specialized prompt products on
// wgmma) for sm_90a alone, raised from compute_90 PTX since nvcc 11.8 emits no sm_90a.
package kernels
