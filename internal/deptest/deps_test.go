package deptest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// above lists the package trees that must stay pure Go, free of the GPU backend.
var above = []string{"planparser", "evidence", "tools", "planner", "configs"}

const module = "github.com/rewoo-agent/agent"

// TestNoCgoAboveEngine lists every non-standard dependency of the packages above the
// engine, with the cuda build tag on, and fails on cgo or the CUDA backend.
func TestNoCgoAboveEngine(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	var pkgs []string
	for _, p := range above {
		pkgs = append(pkgs, module+"/"+p+"/...")
	}
	args := append([]string{"list", "-tags", "cuda", "-deps", "-f",
		"{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		n++
		path, cgoFiles := f[0], f[1]
		switch {
		case cgoFiles != "0":
			t.Errorf("%s uses cgo (%s files) but is a dependency of a package above the engine", path, cgoFiles)
		case strings.HasPrefix(path, module+"/engine/backend/cuda"), strings.HasPrefix(path, "gorgonia.org/cu"):
			t.Errorf("%s is a dependency of a package above the engine", path)
		}
	}
	if n < len(above) {
		t.Fatalf("go list returned %d packages, want at least %d", n, len(above))
	}
}
