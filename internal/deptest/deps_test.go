package deptest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rewoo-agent/agent"

// layers maps each layer, a package path in the module with the packages under
// it, to the layers its packages may import besides their own. A package is in
// the layer of the longest path that holds it. Every layer may import internal.
// A new package whose imports its layer does not allow (a package that opens
// an engine from a spec, say, importing the backends) needs a row of its own.
var layers = map[string][]string{
	"planparser": {},
	// configs: tools/custom reads YAML with configs' position-aware decoder,
	// until that moves into internal.
	"tools":    {"engine", "configs"},
	"evidence": {"planparser", "tools"},
	"planner":  {"engine", "evidence", "planparser", "tools"},
	// The planner a configuration describes: configs to planner.Planner.
	"planner/fromconfig": {"planner", "engine", "evidence", "planparser", "tools", "configs"},
	// Function calling: the functions, their prompt, the answer's checks and the
	// decoding constraint over a local model.
	"funcall": {"engine", "tools"},
	// The pure-Go core: the LLM seam, the model, the tokenizer, the sampler. It
	// holds the backend registry, never a backend, a server client or the hub.
	"engine":         {},
	"engine/backend": {"engine", "kernels"},
	"engine/openai":  {"engine"},
	"engine/hub":     {"engine"},
	// Several engines as one: least-loaded dispatch, back-off, health checks.
	"engine/pool": {"engine"},
	// Opens an engine from a spec (or the configuration's engine section) for
	// every command: the one place that blank-imports the backends.
	"engine/open": {"engine", "engine/backend", "engine/openai", "engine/hub", "configs"},
	"kernels":     {},
	// Research jobs: the journal, the queue and the runner over an asker.
	"research": {"planner", "evidence", "planparser", "tools"},
	// Research jobs at scale: job files, the River queue, workers, the shared
	// tool cache; a job's endpoints as a pool of OpenAI-compatible clients.
	"research/queue": {"research", "planner", "evidence", "planparser", "tools", "engine", "engine/openai", "engine/pool"},
	"configs":        {},
	// The offline world: a generated knowledge base, its documents and questions.
	"world": {},
	// Training examples for the shipped model: the planner's own prompts and gold
	// plans over the offline world, answered by the local tools.
	"trainset": {"planner", "planparser", "tools", "world"},
	// Answer quality: each question of a set through the whole loop.
	"eval": {"engine", "planner", "tools", "trainset", "world"},
	// The shipped model's files, embedded.
	"models": {},
	// agent ask --offline: the shipped model over the offline world's documents,
	// as configuration settings.
	"world/offline": {"configs", "eval", "models", "trainset", "world"},
	// Scripts are commands: they wire the layers as cmd does.
	"scripts":  {"eval", "tools", "trainset", "world"},
	"internal": {},
	// The ask command's progress views over the planner's events, and its reports.
	"internal/askview": {"planner", "planparser"},
	// agent bench's measurements: a model opened from a spec, its batched engine.
	"internal/bench": {"engine", "engine/open"},
	"cmd": {"planparser", "evidence", "tools", "planner", "research", "research/queue", "engine", "engine/pool", "engine/backend", "engine/open",
		"engine/openai", "engine/hub", "kernels", "configs", "world", "world/offline", "funcall", "eval", "models", "internal/askview", "internal/bench", "planner/fromconfig"},
}

// above lists the layers that must stay pure Go, free of the GPU backend.
var above = []string{"planparser", "evidence", "tools", "planner", "configs", "world", "world/offline", "funcall", "trainset", "eval", "models"}

// layerOf returns the layer of the module-relative package path p, or "".
func layerOf(p string) string {
	best := ""
	for l := range layers {
		if (p == l || strings.HasPrefix(p, l+"/")) && len(l) > len(best) {
			best = l
		}
	}
	return best
}

// pkg is a package of the module and the packages it imports, module-relative
// paths for the module's own.
type pkg struct {
	path    string
	imports []string
}

// check returns a message for each import the table does not allow, and for
// each package the table has no layer for.
func check(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from := layerOf(p.path)
		if from == "" {
			bad = append(bad, fmt.Sprintf("%s is in no layer of internal/deptest's table: add one", p.path))
			continue
		}
		for _, imp := range p.imports {
			to := layerOf(imp)
			switch {
			case to == "":
				bad = append(bad, fmt.Sprintf("%s imports %s, which is in no layer of internal/deptest's table: add one", p.path, imp))
			case to != from && to != "internal" && !slices.Contains(layers[from], to):
				bad = append(bad, fmt.Sprintf("forbidden import %s -> %s: layer %s may import only %s (internal/deptest's table)",
					p.path, imp, from, allowed(from)))
			}
		}
	}
	return bad
}

func allowed(layer string) string {
	l := slices.Concat([]string{layer}, layers[layer], []string{"internal"})
	slices.Sort(l)
	return strings.Join(slices.Compact(l), ", ")
}

// goList runs go list with the cuda build tag on (a superset of the default
// build's imports) over args and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	cmd := exec.Command("go", append([]string{"list", "-tags", "cuda"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestLayers checks every import of the module's packages (their non-test
// files) against the table.
func TestLayers(t *testing.T) {
	var pkgs []pkg
	for _, line := range goList(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...") {
		f := strings.Fields(line)
		p := pkg{path: strings.TrimPrefix(f[0], module+"/")}
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				p.imports = append(p.imports, rel)
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(layers) {
		t.Fatalf("go list returned %d packages", len(pkgs))
	}
	for _, msg := range check(pkgs) {
		t.Error(msg)
	}
}

// TestCheck checks the checker: a forbidden edge is named with its layers.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		pkgs []pkg
		want []string
	}{
		{"allowed", []pkg{{"planner", []string{"evidence", "engine/chat", "internal/retryafter"}}, {"engine/gptq", []string{"engine/safetensors"}}}, nil},
		{"upward", []pkg{{"evidence", []string{"planparser", "planner"}}},
			[]string{"forbidden import evidence -> planner: layer evidence may import only evidence, internal, planparser, tools (internal/deptest's table)"}},
		{"core to backend", []pkg{{"engine", []string{"engine/backend/cpu"}}},
			[]string{"forbidden import engine -> engine/backend/cpu: layer engine may import only engine, internal (internal/deptest's table)"}},
		{"no layer", []pkg{{"util", nil}, {"planner", []string{"common"}}},
			[]string{"util is in no layer of internal/deptest's table: add one", "planner imports common, which is in no layer of internal/deptest's table: add one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := check(tt.pkgs); !slices.Equal(got, tt.want) {
				t.Errorf("check = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestNoCgoAboveEngine lists every non-standard dependency of the packages above the
// engine, with the cuda build tag on, and fails on cgo or the CUDA backend.
func TestNoCgoAboveEngine(t *testing.T) {
	var pkgs []string
	for _, p := range above {
		pkgs = append(pkgs, module+"/"+p+"/...")
	}
	lines := goList(t, append([]string{"-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}"}, pkgs...)...)
	n := 0
	for _, line := range lines {
		f := strings.Fields(line)
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
