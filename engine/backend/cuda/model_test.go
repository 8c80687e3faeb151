//go:build cuda

package cuda

import (
	fixturesdir "github.com/rewoo-agent/agent/internal/fixtures"

	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

// fixtures is the repository's fixtures folder, or $AGENT_FIXTURES on a GPU machine
// the test binary was copied to.
func fixtures(t testing.TB) string { return fixturesdir.Dir() }

func f32s(t *testing.T, set *safetensors.Set, name string) []float32 {
	t.Helper()
	x, err := set.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(x.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(x.Data[4*i:]))
	}
	return v
}

func i32s(t *testing.T, set *safetensors.Set, name string) []int {
	t.Helper()
	x, err := set.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]int, len(x.Data)/4)
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(x.Data[4*i:])))
	}
	return v
}

func openModel(t *testing.T, dir, backend string, maxBatch int) *llama.Model {
	t.Helper()
	var b engine.Backend
	var err error
	if backend == "cpu" {
		b = cpu.New()
	} else if b, err = Open(ctx, 0); err != nil {
		t.Fatal(err)
	}
	m, err := llama.Open(ctx, dir, b, llama.Options{MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// greedy feeds prompt in one step, then one token at a time, picking the argmax.
func greedy(t *testing.T, m *llama.Model, prompt []int, n int) []int {
	t.Helper()
	logits, err := m.Forward(ctx, prompt, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i := range n {
		best := 0
		for j, l := range logits {
			if l > logits[best] {
				best = j
			}
		}
		out = append(out, best)
		if i+1 < n {
			if logits, err = m.Forward(ctx, []int{best}, len(prompt)+i, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestFixtures checks whole-model logits against transformers' (float32) on the
// AutoGPTQ fixtures, through the prompt path (one batch) and the decode path (one
// token per step), and the greedy continuation up to the first near-tie.
func TestFixtures(t *testing.T) {
	earlyFromEnv(t)
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixtures(t), "gptq", name)
			ref, err := safetensors.OpenFiles(filepath.Join(dir, "reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			prompt, want := i32s(t, ref, "input_ids"), toF64(f32s(t, ref, "logits"))
			greedyIDs, gaps := i32s(t, ref, "greedy_ids"), f32s(t, ref, "greedy_gaps")
			for _, maxBatch := range []int{256, 1} { // tensor-core prompt path, then decode path
				m := openModel(t, dir, "cuda", maxBatch)
				got, err := m.Forward(ctx, prompt, 0, len(prompt))
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, fmt.Sprintf("logits, batch %d", maxBatch), got, want, 1e-2)
			}
			m := openModel(t, dir, "cuda", 256)
			ids := greedy(t, m, prompt, len(greedyIDs))
			for i, id := range ids {
				if gaps[i] < 0.05 {
					t.Logf("greedy ids compared up to step %d (gap %.4f)", i, gaps[i])
					break
				}
				if id != greedyIDs[i] {
					t.Fatalf("greedy step %d: %d, want %d (gap %.3f); got %v, want %v", i, id, greedyIDs[i], gaps[i], ids, greedyIDs)
				}
			}
		})
	}
}

// TestRandomCheckpoints packs random models with the CPU packer in quantizations the
// fixtures lack and checks the GPU against the CPU backend.
func TestRandomCheckpoints(t *testing.T) {
	earlyFromEnv(t)
	cfg := gptq.Config{Hidden: 256, Intermediate: 704, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512,
		Context: 512, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}
	for _, q := range []gptq.Quantization{
		{Bits: 3, GroupSize: 128, DescAct: true},
		{Bits: 3, GroupSize: -1, DescAct: true},
		{Bits: 4, GroupSize: 32, DescAct: true},
		{Bits: 4, GroupSize: 64, DescAct: true, Sym: true},
		{Bits: 2, GroupSize: 64},
		{Bits: 8, GroupSize: 128, DescAct: true, Format: "gptq_v2"},
	} {
		t.Run(fmt.Sprintf("%dbit/g%d/actorder=%v", q.Bits, q.GroupSize, q.DescAct), func(t *testing.T) {
			dir := t.TempDir()
			if q.Format == "" {
				q.Format = "gptq"
			}
			q.BaseName = "model"
			if err := gptqtest.WriteRandom(dir, gptqtest.RandomSpec{Config: cfg, Quant: q, Seed: uint64(q.Bits*1000 + q.GroupSize + 7)}); err != nil {
				t.Fatal(err)
			}
			prompt := make([]int, 40)
			for i := range prompt {
				prompt[i] = (i*37 + 11) % cfg.Vocab
			}
			want, err := openModel(t, dir, "cpu", 256).Forward(ctx, prompt, 0, len(prompt))
			if err != nil {
				t.Fatal(err)
			}
			for _, maxBatch := range []int{256, 1} {
				got, err := openModel(t, dir, "cuda", maxBatch).Forward(ctx, prompt, 0, len(prompt))
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, fmt.Sprintf("logits, batch %d", maxBatch), got, toF64(want), 1e-2)
			}
		})
	}
}

// TestFixturePermutations checks that LoadQuant uploads one act-order permutation for
// the layers of one input in AutoGPTQ's own checkpoint (q, k and v; gate and up share
// their g_idx there, engine/gptq's TestActOrderByInput) and a separate one for o.
func TestFixturePermutations(t *testing.T) {
	c, err := gptq.Open(filepath.Join(fixtures(t), "gptq", "tiny-4bit-128g-actorder"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := open(t, small)
	perm := make([]uint64, gptq.NumLinears)
	for which := range gptq.NumLinears {
		prefix, in, out := c.Config.Linear(0, which)
		w, err := c.Linear(prefix, in, out)
		if err != nil {
			t.Fatal(err)
		}
		x, err := b.LoadQuant(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if perm[which] = uint64(x.(*tensor).q.perm); perm[which] == 0 {
			t.Fatalf("%s: no permutation", prefix)
		}
	}
	if perm[gptq.Q] != perm[gptq.K] || perm[gptq.Q] != perm[gptq.V] || perm[gptq.Gate] != perm[gptq.Up] {
		t.Errorf("permutations %#x: want q, k and v's one, gate and up's one", perm)
	}
	if perm[gptq.Q] == perm[gptq.O] || perm[gptq.Q] == perm[gptq.Gate] {
		t.Errorf("permutations %#x: o's and gate's must differ from q's", perm)
	}
}
