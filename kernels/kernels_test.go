package kernels

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestPTX(t *testing.T) {
	entries := map[string][]string{
		"gptq":   {"gptq_matvec_2", "gptq_matvec_3", "gptq_matvec_4", "gptq_matvec_8", "gptq_mv3", "gptq_mv4", "gptq_gemm_4", "gather_x3", "gather_x4", "gptq_mm3", "gptq_mm4", "gemm_f16", "gemv_f16", "gptq_reorder_3"},
		"llama":  {"embed", "rmsnorm", "rope", "kv_store", "attention_split", "attention_combine", "attention_prompt64", "attention_prompt128", "silu_mul", "add"},
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

func TestPTXTooOld(t *testing.T) {
	if _, err := PTX("gptq", 7, 5); err == nil {
		t.Fatal("compute capability 7.5 accepted")
	}
	if _, err := PTX("nope", 9, 0); err == nil {
		t.Fatal("unknown module accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
