package kernels

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// An Entry is a kernel as its PTX declares it: the module (source file) that
// defines it and its parameters in order. Entries (entries.go, generated from the
// committed PTX by kernels/gen) lists them all, so a launch can be checked against
// the kernel it calls before the driver reads its parameters.
type Entry struct {
	Module string
	Params []Param
}

// Param is one parameter of a PTX entry: its name and state-space type (".u64",
// ".u32", ".f32", ".b8" for a byte array) and its size in bytes.
type Param struct {
	Name string
	Type string
	Size int
}

// Kind is how a launch passes one argument: a device pointer or a 64-bit integer
// (8 bytes), a 32-bit integer, or a float32.
type Kind int

const (
	Pointer Kind = iota
	Int64
	Int32
	Float32
)

func (k Kind) String() string {
	switch k {
	case Pointer:
		return "a device pointer"
	case Int64:
		return "a 64-bit integer"
	case Int32:
		return "a 32-bit integer"
	case Float32:
		return "a float32"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Accepts reports whether an argument of kind k fills parameter p: same size, and
// a float only where the PTX type is one.
func (p Param) Accepts(k Kind) bool {
	switch k {
	case Pointer, Int64:
		return p.Size == 8 && (p.Type == ".u64" || p.Type == ".s64" || p.Type == ".b64")
	case Int32:
		return p.Size == 4 && (p.Type == ".u32" || p.Type == ".s32" || p.Type == ".b32")
	case Float32:
		return p.Size == 4 && (p.Type == ".f32" || p.Type == ".b32")
	}
	return false
}

// CheckLaunch reports whether args (the kinds of a launch's arguments, in order)
// match the parameters of kernel name, with an error naming the kernel and the
// first argument that does not.
func CheckLaunch(name string, args ...Kind) error {
	e, ok := Entries[name]
	if !ok {
		return fmt.Errorf("kernels: launch of %s: no such entry in the PTX", name)
	}
	if len(args) != len(e.Params) {
		return fmt.Errorf("kernels: launch of %s with %d arguments: its PTX entry takes %d", name, len(args), len(e.Params))
	}
	for i, k := range args {
		if p := e.Params[i]; !p.Accepts(k) {
			return fmt.Errorf("kernels: launch of %s: argument %d is %s, but parameter %s is %s (%d bytes)", name, i, k, p.Name, p.Type, p.Size)
		}
	}
	return nil
}

var (
	entryStart = regexp.MustCompile(`(?m)^\.(?:visible|weak) \.entry ([A-Za-z_$][A-Za-z0-9_$]*)\(`)
	// .param .u32 name  |  .param .align 8 .b8 name[16]
	paramDecl = regexp.MustCompile(`^\.param\s+(?:\.align\s+\d+\s+)?(\.[a-z]+[0-9]+)\s+([A-Za-z_$][A-Za-z0-9_$]*)(?:\[(\d+)\])?$`)
)

// ParseEntries reads the entries a PTX module defines and their parameters. It
// fails on a parameter list it cannot read rather than skip it.
func ParseEntries(ptx string) (map[string][]Param, error) {
	out := map[string][]Param{}
	for _, loc := range entryStart.FindAllStringSubmatchIndex(ptx, -1) {
		name := ptx[loc[2]:loc[3]]
		end := strings.IndexByte(ptx[loc[1]:], ')')
		if end < 0 {
			return nil, fmt.Errorf("entry %s: parameter list not closed", name)
		}
		var params []Param
		for decl := range strings.SplitSeq(ptx[loc[1]:loc[1]+end], ",") {
			decl = strings.TrimSpace(decl)
			if decl == "" {
				continue
			}
			m := paramDecl.FindStringSubmatch(decl)
			if m == nil {
				return nil, fmt.Errorf("entry %s: cannot read parameter %q", name, decl)
			}
			size, err := typeSize(m[1])
			if err != nil {
				return nil, fmt.Errorf("entry %s: parameter %s: %w", name, m[2], err)
			}
			if m[3] != "" {
				n, err := strconv.Atoi(m[3])
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("entry %s: parameter %s: array of %q", name, m[2], m[3])
				}
				size *= n
			}
			params = append(params, Param{Name: m[2], Type: m[1], Size: size})
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("entry %s defined twice", name)
		}
		out[name] = params
	}
	return out, nil
}

// typeSize is the size of a PTX fundamental type: .u32, .f64, .b8 and the like.
func typeSize(t string) (int, error) {
	i := strings.IndexAny(t, "0123456789")
	if i < 2 {
		return 0, fmt.Errorf("type %q", t)
	}
	switch t[:i] {
	case ".u", ".s", ".b", ".f":
	default:
		return 0, fmt.Errorf("type %q", t)
	}
	bits, err := strconv.Atoi(t[i:])
	if err != nil || bits%8 != 0 || bits == 0 || bits > 64 {
		return 0, fmt.Errorf("type %q", t)
	}
	return bits / 8, nil
}
