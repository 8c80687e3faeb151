// Package deptest holds the test that keeps the dependency direction: nothing above
// the engine uses cgo, the CUDA backend or the CUDA driver bindings.
package deptest
