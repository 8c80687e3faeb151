package kernels

import (
	"embed"
	"fmt"
)

//go:generate go run ./gen -dir .

//go:embed ptx/*.ptx
var ptxFiles embed.FS

// Names lists the kernel modules built for every target, one per CUDA source file.
var Names = []string{"gptq", "llama", "probe", "sample"}

// Hopper lists the modules built for sm_90a alone, Hopper's architecture-specific
// target (wgmma), one per CUDA source file: compiled for compute_90, then their
// .version and .target lines raised to PTX ISA 8.0 and sm_90a (nvcc 11.8 emits
// neither). Such PTX runs on compute capability 9.0 only, where the engine loads it
// beside the modules of Names.
var Hopper = []string{"hopper"}

// Targets lists the compute capabilities PTX is generated for, oldest first.
var Targets = []int{80, 90}

// File is the path, relative to this package, of module name's PTX for target sm.
func File(name string, sm int) string { return fmt.Sprintf("ptx/%s_sm%d.ptx", name, sm) }

// FileSM90a is the path, relative to this package, of module name's sm_90a PTX.
func FileSM90a(name string) string { return fmt.Sprintf("ptx/%s_sm90a.ptx", name) }

// A Build is one committed PTX file: module Module compiled for compute_SM (raised to
// sm_90a when SM90a) into Path, relative to this package.
type Build struct {
	Module, Path string
	SM           int
	SM90a        bool
}

// Builds lists every committed PTX file: the modules of Names for each target, then
// those of Hopper for sm_90a.
func Builds() []Build {
	var bs []Build
	for _, name := range Names {
		for _, sm := range Targets {
			bs = append(bs, Build{name, File(name, sm), sm, false})
		}
	}
	for _, name := range Hopper {
		bs = append(bs, Build{name, FileSM90a(name), 90, true})
	}
	return bs
}

// HasSM90a reports whether a device of compute capability major.minor runs sm_90a
// PTX (the modules of Hopper).
func HasSM90a(major, minor int) bool { return major == 9 && minor == 0 }

// PTXSM90a returns module name's sm_90a PTX (a module of Hopper).
func PTXSM90a(name string) (string, error) {
	b, err := ptxFiles.ReadFile(FileSM90a(name))
	if err != nil {
		return "", fmt.Errorf("kernels: no sm_90a module %q: %w", name, err)
	}
	return string(b), nil
}

// PTX returns module name's PTX for the newest target a device of compute capability
// major.minor runs (the driver compiles PTX forward to newer devices).
func PTX(name string, major, minor int) (string, error) {
	cc := major*10 + minor
	sm := 0
	for _, t := range Targets {
		if t <= cc {
			sm = t
		}
	}
	if sm == 0 {
		return "", fmt.Errorf("kernels: compute capability %d.%d is below the oldest target sm_%d", major, minor, Targets[0])
	}
	b, err := ptxFiles.ReadFile(File(name, sm))
	if err != nil {
		return "", fmt.Errorf("kernels: no module %q: %w", name, err)
	}
	return string(b), nil
}
