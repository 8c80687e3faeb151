package kernels

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPTX(t *testing.T) {
	entries := map[string][]string{
		"gptq":   {"gptq_matvec_2", "gptq_matvec_3", "gptq_matvec_4", "gptq_matvec_8", "gptq_mvq3", "gptq_mv4", "gptq_gemm_4", "gather_x3", "gather_x4", "gptq_mm3", "gptq_mm4", "gemm_f16", "gemv_f16", "gptq_reorder_3"},
		"llama":  {"embed", "rmsnorm", "rope_store_own", "rope_store_paged", "attention_split", "attention_paged", "dense_rows8", "dense_rows32", "attention_prompt64", "attention_prompt128", "silu_mul", "add"},
		"probe":  {"tc_probe"},
		"sample": {"sample"},
	}
	generated := regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.\n`)
	for _, name := range Names {
		for _, cc := range []struct{ major, minor, sm int }{{8, 0, 80}, {8, 9, 80}, {9, 0, 90}, {12, 0, 90}} {
			t.Run(name, func(t *testing.T) {
				p, err := PTX(name, cc.major, cc.minor)
				if err != nil {
					t.Fatal(err)
				}
				if !generated.MatchString(p) {
					t.Errorf("%s: no generated-code header", name)
				}
				if want := "\n.target sm_" + itoa(cc.sm) + "\n"; !strings.Contains(p, want) {
					t.Errorf("%s for %d.%d: missing %q", name, cc.major, cc.minor, want)
				}
				for _, e := range entries[name] {
					if !strings.Contains(p, ".entry "+e+"(") {
						t.Errorf("%s: no entry %s", name, e)
					}
				}
			})
		}
	}
}

// TestPTXSM90a checks the modules built for sm_90a alone: raised to PTX ISA 8.0 and
// sm_90a, with their entries.
func TestPTXSM90a(t *testing.T) {
	entries := map[string][]string{"hopper": {"gptq_ws3", "gptq_ws4", "gptq_wr4", "gather_xr4"}}
	for _, name := range Hopper {
		p, err := PTXSM90a(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"\n.version 8.0\n", "\n.target sm_90a\n"} {
			if !strings.Contains(p, want) {
				t.Errorf("%s: missing %q", name, want)
			}
		}
		for _, e := range entries[name] {
			if !strings.Contains(p, ".entry "+e+"(") {
				t.Errorf("%s: no entry %s", name, e)
			}
			if Entries[e].Module != name {
				t.Errorf("entry %s: module %q, want %q", e, Entries[e].Module, name)
			}
		}
	}
	if !HasSM90a(9, 0) || HasSM90a(8, 9) || HasSM90a(10, 0) {
		t.Error("HasSM90a: want compute capability 9.0 alone")
	}
	if _, err := PTXSM90a("gptq"); err == nil {
		t.Error("gptq: sm_90a PTX found, want only the modules of Hopper")
	}
}

func TestPTXTooOld(t *testing.T) {
	if _, err := PTX("gptq", 7, 5); err == nil {
		t.Fatal("compute capability 7.5 accepted")
	}
	if _, err := PTX("nope", 9, 0); err == nil {
		t.Fatal("unknown module accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseEntries(t *testing.T) {
	ptx, err := os.ReadFile("testdata/entries.ptx")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEntries(string(ptx))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Param{
		"scale":    {{"scale_param_0", ".u64", 8}, {"scale_param_1", ".u32", 4}, {"scale_param_2", ".f32", 4}},
		"by_value": {{"by_value_param_0", ".b8", 24}, {"by_value_param_1", ".s64", 8}},
		"nothing":  nil,
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for name, ps := range want {
		if !slices.Equal(got[name], ps) {
			t.Errorf("%s: %v, want %v", name, got[name], ps)
		}
	}
	for _, bad := range []string{
		".visible .entry f(\n\t.param .u64 a,\n",                 // not closed
		".visible .entry f(\n\t.param .q32 a\n)",                 // no such type
		".visible .entry f(\n\t.param .u12 a\n)",                 // not whole bytes
		".visible .entry f(\n\t.param u32 a\n)",                  // not a declaration
		".visible .entry f(\n)\n.visible .entry f(\n)",           // twice
		".visible .entry f(\n\t.param .align 8 .b8 a[0]\n)",      // empty array
		".visible .entry f(\n\t.param .u32 a,\n\t.reg .u32 b\n)", // not a parameter
	} {
		if es, err := ParseEntries(bad); err == nil {
			t.Errorf("%q: parsed as %v", bad, es)
		}
	}
}

// TestEntries checks the generated table against the embedded PTX of every target,
// so a PTX regenerated without entries.go fails here, nvcc or not.
func TestEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Builds() {
		ptx, err := ptxFiles.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		es, err := ParseEntries(string(ptx))
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		for k, ps := range es {
			e, ok := Entries[k]
			if !ok || e.Module != f.Module || !slices.Equal(e.Params, ps) {
				t.Errorf("%s: entry %s %v; entries.go has %+v (run go run ./kernels/gen -entries)", f.Path, k, ps, e)
			}
			seen[k] = true
		}
	}
	for k := range Entries {
		if !seen[k] {
			t.Errorf("entries.go has %s, which no PTX defines", k)
		}
	}
}

func TestCheckLaunch(t *testing.T) {
	p, i, f := Pointer, Int32, Float32
	for _, c := range []struct {
		name string
		args []Kind
		err  string
	}{
		{"add", []Kind{p, p, p, i}, ""},
		{"rmsnorm", []Kind{p, p, p, i, f}, ""},
		{"add", []Kind{p, p, p}, "kernels: launch of add with 3 arguments: its PTX entry takes 4"},
		{"add", []Kind{p, p, p, i, i}, "kernels: launch of add with 5 arguments: its PTX entry takes 4"},
		{"add", []Kind{p, p, i, i}, "kernels: launch of add: argument 2 is a 32-bit integer, but parameter add_param_2 is .u64 (8 bytes)"},
		{"add", []Kind{p, p, p, p}, "kernels: launch of add: argument 3 is a device pointer, but parameter add_param_3 is .u32 (4 bytes)"},
		{"rmsnorm", []Kind{p, p, p, i, i}, "kernels: launch of rmsnorm: argument 4 is a 32-bit integer, but parameter rmsnorm_param_4 is .f32 (4 bytes)"},
		{"rmsnorm", []Kind{p, p, p, f, f}, "kernels: launch of rmsnorm: argument 3 is a float32, but parameter rmsnorm_param_3 is .u32 (4 bytes)"},
		{"nonesuch", nil, "kernels: launch of nonesuch: no such entry in the PTX"},
	} {
		err := CheckLaunch(c.name, c.args...)
		if got := fmt.Sprint(err); (c.err == "" && err != nil) || (c.err != "" && got != c.err) {
			t.Errorf("CheckLaunch(%s, %v) = %v, want %q", c.name, c.args, err, c.err)
		}
	}
}

// FuzzParseEntries: any text gives entries or an error, never a panic, and every
// parameter read has a positive size.
func FuzzParseEntries(f *testing.F) {
	ptx, err := os.ReadFile("testdata/entries.ptx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(ptx))
	f.Add(".visible .entry f(\n\t.param .align 4 .b8 p[12]\n)")
	f.Add(".visible .entry f(")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseEntries(s)
		if err != nil {
			return
		}
		for name, ps := range es {
			for _, p := range ps {
				if p.Size <= 0 || p.Name == "" {
					t.Fatalf("%s: parameter %+v", name, p)
				}
			}
		}
	})
}
