package llama

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rewoo-agent/agent/engine/cpu"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

func fixtures() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "fixtures")
}

type reference struct {
	ids    []int
	logits []float32
	greedy []int
	gaps   []float32
}

func readReference(t *testing.T, dir string) reference {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	get := func(name string, dt safetensors.DType) []byte {
		tn, err := f.Tensor(name)
		if err != nil || tn.DType != dt {
			t.Fatalf("%s: %v (%s)", name, err, tn.DType)
		}
		return tn.Data
	}
	ints := func(b []byte) []int {
		out := make([]int, len(b)/4)
		for i := range out {
			out[i] = int(int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24))
		}
		return out
	}
	floats := func(b []byte) []float32 {
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		return out
	}
	return reference{
		ids: ints(get("input_ids", safetensors.I32)), logits: floats(get("logits", safetensors.F32)),
		greedy: ints(get("greedy_ids", safetensors.I32)), gaps: floats(get("greedy_gaps", safetensors.F32)),
	}
}

// relErr is max|a-b| / max|b|.
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		num = max(num, math.Abs(float64(a[i]-b[i])))
		den = max(den, math.Abs(float64(b[i])))
	}
	return num / den
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestFixtures runs the CPU backend on AutoGPTQ checkpoints and compares with the
// logits and greedy continuation transformers computed.
func TestFixtures(t *testing.T) {
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		for _, batch := range []int{256, 5} {
			t.Run(fmt.Sprintf("%s/batch%d", name, batch), func(t *testing.T) {
				dir := filepath.Join(fixtures(), "gptq", name)
				ref := readReference(t, dir)
				ctx := context.Background()
				m, err := Open(ctx, dir, cpu.New(), Options{MaxBatch: batch})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				vocab := m.VocabSize()
				logits, err := m.Forward(ctx, ref.ids, 0, len(ref.ids))
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(logits, ref.logits); e > 1e-4 {
					t.Errorf("logits relative error %.3g", e)
				} else {
					t.Logf("logits relative error %.3g", e)
				}
				// Greedy decoding, one token at a time through the cache, up to the
				// first step whose top-2 gap is too small to call.
				ids := append([]int(nil), ref.ids...)
				next := argmax(logits[(len(ids)-1)*vocab:])
				for i, want := range ref.greedy {
					if ref.gaps[i] < 0.01 {
						t.Logf("stopping at step %d: gap %.4f", i, ref.gaps[i])
						break
					}
					if next != want {
						t.Fatalf("greedy step %d: %d, want %d", i, next, want)
					}
					ids = append(ids, next)
					l, err := m.Forward(ctx, ids[len(ids)-1:], len(ids)-1, 1)
					if err != nil {
						t.Fatal(err)
					}
					next = argmax(l)
				}
			})
		}
	}
}
