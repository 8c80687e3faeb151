package kernels

import (
	"embed"
	"fmt"
)

//go:generate go run ./gen -dir .

//go:embed ptx/*.ptx
var ptxFiles embed.FS

// Names lists the kernel modules, one per CUDA source file.
var Names = []string{"gptq", "llama", "probe", "sample"}

// Targets lists the compute capabilities PTX is generated for, oldest first.
var Targets = []int{80, 90}

// File is the path, relative to this package, of module name's PTX for target sm.
func File(name string, sm int) string { return fmt.Sprintf("ptx/%s_sm%d.ptx", name, sm) }

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
