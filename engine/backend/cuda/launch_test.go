package cuda

// This file has no build tag: it reads the backend's source, so the launch sites
// are checked against the PTX's parameter lists in every build, GPU or not.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/kernels"
)

// TestLaunchSites finds every kernel launch in this package's source whose kernel
// name is known statically and checks its argument count, and the kinds of the
// arguments whose kind the source shows, against kernels.Entries. Launches that
// forward a built slice (args...) are checked at run time by encode.
func TestLaunchSites(t *testing.T) {
	if _, err := os.Stat("ops.go"); err != nil {
		t.Skip("the package source is not here (a test binary copied to a GPU machine); go test checks it")
	}
	fset := token.NewFileSet()
	var files []*ast.File
	paths, _ := filepath.Glob("*.go")
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	checked, skipped, problems := checkLaunchSites(fset, files)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d launch sites checked; not statically known: %s", checked, strings.Join(skipped, ", "))
	if checked < 15 {
		t.Errorf("only %d launch sites checked: the finder has lost them", checked)
	}
}

// TestLaunchSitesCatch shows the check failing on launches that do not match their
// kernel: an argument missing, one too many, and a float where the PTX has an int.
func TestLaunchSitesCatch(t *testing.T) {
	const src = `package cuda
func (o ops) bad(x, y *tensor, n int, eps float32, bits int) {
	o.launch("add", [3]int{1, 1, 1}, 256, 0, x.p, y.p, n)
	o.launch("silu_mul", [3]int{1, 1, 1}, 256, 0, x.p, y.p, x.p, n, n)
	o.launch("rmsnorm", [3]int{1, 1, 1}, 512, 0, x.p, y.p, x.p, eps, eps)
	o.launch(fmt.Sprintf("gather_x%d", bits), [3]int{1, 1, 1}, 256, 0, x.p, y.p, x.p)
	o.launch("no_such_kernel", [3]int{1, 1, 1}, 256, 0)
	o.launch("add", [3]int{1, 1, 1}, 256, 0, x.p, y.p, x.p, n)
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	checked, _, problems := checkLaunchSites(fset, []*ast.File{f})
	want := []string{
		"bad.go:3: add: 3 arguments, the PTX entry takes 4",
		"bad.go:4: silu_mul: 5 arguments, the PTX entry takes 4",
		"bad.go:5: rmsnorm: argument 3 is a float32, parameter rmsnorm_param_3 is .u32",
		"bad.go:6: gather_x3: 3 arguments, the PTX entry takes 4",
		"bad.go:6: gather_x4: 3 arguments, the PTX entry takes 4",
		"bad.go:7: no kernel matches no_such_kernel",
	}
	if checked != 6 || !slices.Equal(problems, want) {
		t.Fatalf("%d checked, problems:\n%s\nwant:\n%s", checked, strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// pointerFields are the fields of this package that hold device pointers.
var pointerFields = map[string]bool{"p": true, "qzeros": true, "scales": true, "cgroup": true, "perm": true,
	"ids": true, "step": true, "hist": true, "mark": true, "part": true, "attnCount": true, "mvPart": true, "mvCount": true, "xh": true,
	"mmFix": true, "mmFlags": true}

// intFields are the int fields of this package passed to kernels.
var intFields = map[string]bool{"cols": true, "rows": true, "Heads": true, "KVHeads": true}

func checkLaunchSites(fset *token.FileSet, files []*ast.File) (checked int, skipped, problems []string) {
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			locals := localKinds(fd)
			names := localNames(fd)
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "launch" || len(call.Args) < 4 {
					return true
				}
				at := fmt.Sprintf("%s:%d", filepath.Base(fset.Position(call.Pos()).Filename), fset.Position(call.Pos()).Line)
				pattern, ok := kernelName(call.Args[0], names)
				if !ok {
					skipped = append(skipped, at)
					return true
				}
				if call.Ellipsis.IsValid() {
					skipped = append(skipped, at+" (args...)")
					return true
				}
				args := call.Args[4:]
				matched := false
				for _, name := range kernelNames(pattern) {
					matched = true
					params := kernels.Entries[name].Params
					if len(args) != len(params) {
						problems = append(problems, fmt.Sprintf("%s: %s: %d arguments, the PTX entry takes %d", at, name, len(args), len(params)))
						continue
					}
					for i, a := range args {
						if k, ok := argKind(a, locals); ok && !params[i].Accepts(k) {
							problems = append(problems, fmt.Sprintf("%s: %s: argument %d is %s, parameter %s is %s", at, name, i, k, params[i].Name, params[i].Type))
						}
					}
				}
				if !matched {
					problems = append(problems, fmt.Sprintf("%s: no kernel matches %s", at, pattern))
				}
				checked++
				return true
			})
		}
	}
	return checked, skipped, problems
}

// kernelName is a launch's kernel: a string literal, fmt.Sprintf of one (a
// pattern, %d standing for any number), or a local variable assigned one.
func kernelName(e ast.Expr, names map[string]ast.Expr) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(v.Value)
		return s, err == nil
	case *ast.CallExpr:
		if sel, ok := v.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(v.Args) > 0 {
			return kernelName(v.Args[0], names)
		}
	case *ast.Ident:
		if def, ok := names[v.Name]; ok {
			return kernelName(def, nil)
		}
	}
	return "", false
}

// kernelNames lists the entries a name pattern stands for, sorted.
func kernelNames(pattern string) []string {
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), "%d", "[0-9]+") + "$")
	var out []string
	for name := range kernels.Entries {
		if re.MatchString(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// localNames maps the function's variables assigned once with := to their values.
func localNames(fd *ast.FuncDecl) map[string]ast.Expr {
	out := map[string]ast.Expr{}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && as.Tok == token.DEFINE && len(as.Lhs) == len(as.Rhs) {
			for i, l := range as.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					out[id.Name] = as.Rhs[i]
				}
			}
		}
		return true
	})
	return out
}

// localKinds gives the kinds of the function's parameters of kernel argument types.
func localKinds(fd *ast.FuncDecl) map[string]kernels.Kind {
	out := map[string]kernels.Kind{}
	for _, field := range fd.Type.Params.List {
		k, ok := typeKind(field.Type)
		if !ok {
			continue
		}
		for _, n := range field.Names {
			out[n.Name] = k
		}
	}
	return out
}

func typeKind(e ast.Expr) (kernels.Kind, bool) {
	switch v := e.(type) {
	case *ast.Ident:
		switch v.Name {
		case "int", "uint32":
			return kernels.Int32, true
		case "uint64":
			return kernels.Int64, true
		case "float32":
			return kernels.Float32, true
		}
	case *ast.SelectorExpr:
		if v.Sel.Name == "DevicePtr" {
			return kernels.Pointer, true
		}
	}
	return 0, false
}

// argKind is the kind of a launch argument where the source shows it: a conversion,
// an integer literal, a known field, or a typed parameter of the function.
func argKind(e ast.Expr, locals map[string]kernels.Kind) (kernels.Kind, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		return kernels.Int32, v.Kind == token.INT
	case *ast.CallExpr:
		if len(v.Args) == 1 {
			return typeKind(v.Fun)
		}
	case *ast.SelectorExpr:
		switch {
		case pointerFields[v.Sel.Name]:
			return kernels.Pointer, true
		case intFields[v.Sel.Name]:
			return kernels.Int32, true
		case v.Sel.Name == "zeroOffset":
			return kernels.Float32, true
		}
	case *ast.Ident:
		k, ok := locals[v.Name]
		return k, ok
	}
	return 0, false
}
