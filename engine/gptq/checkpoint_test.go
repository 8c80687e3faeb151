package gptq_test

import (
	fixturesdir "github.com/rewoo-agent/agent/internal/fixtures"

	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/gptq"
	"github.com/rewoo-agent/agent/engine/gptq/gptqtest"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

func fixtures(t testing.TB) string { return fixturesdir.Dir() }

var tiny = gptq.Config{Hidden: 64, Intermediate: 128, Layers: 1, Heads: 4, KVHeads: 2, Vocab: 64,
	Context: 32, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2}

func TestOpenFixtures(t *testing.T) {
	for _, name := range []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"} {
		t.Run(name, func(t *testing.T) {
			c, err := gptq.Open(filepath.Join(fixtures(t), "gptq", name))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Quant.Bits != 4 || !c.Quant.DescAct || c.Config.Hidden != 256 {
				t.Errorf("config %+v %+v", c.Config, c.Quant)
			}
			for layer := range c.Config.Layers {
				for which := range gptq.NumLinears {
					prefix, in, out := c.Config.Linear(layer, which)
					w, err := c.Linear(prefix, in, out)
					if err != nil {
						t.Fatal(err)
					}
					// Dequantized weights of a random float matrix: finite, not all equal.
					d := gptqtest.Dequantize(w)
					if slices.Min(d) == slices.Max(d) {
						t.Errorf("%s dequantizes to a constant", prefix)
					}
				}
			}
			if _, err := c.Dense(gptq.HeadName, c.Config.Vocab, c.Config.Hidden); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestActOrderByInput checks what engine/backend/cuda's LoadQuant relies on to gather
// an input once for the layers that read it: in checkpoints AutoGPTQ quantized with
// act-order, layers of one input (q, k and v; gate and up) have the same g_idx, since
// GPTQ orders a layer's rows by its input's Hessian, while layers of other inputs
// (o, down) have their own.
func TestActOrderByInput(t *testing.T) {
	c, err := gptq.Open(filepath.Join(fixtures(t), "gptq", "tiny-4bit-128g-actorder"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for layer := range c.Config.Layers {
		gidx := make([][]byte, gptq.NumLinears)
		for which := range gptq.NumLinears {
			prefix, in, out := c.Config.Linear(layer, which)
			w, err := c.Linear(prefix, in, out)
			if err != nil {
				t.Fatal(err)
			}
			gidx[which] = w.GIdx
		}
		for _, same := range [][2]int{{gptq.Q, gptq.K}, {gptq.Q, gptq.V}, {gptq.Gate, gptq.Up}} {
			if !slices.Equal(gidx[same[0]], gidx[same[1]]) {
				t.Errorf("layer %d: linears %d and %d read one input but have different g_idx", layer, same[0], same[1])
			}
		}
		if slices.Equal(gidx[gptq.Q], gidx[gptq.O]) {
			t.Errorf("layer %d: q and o have the same g_idx; the fixture no longer tells the two cases apart", layer)
		}
	}
}

// writeModified writes a random tiny checkpoint, then rewrites its weights through
// edit (which may drop or change tensors).
func writeModified(t *testing.T, spec gptqtest.RandomSpec, edit func([]safetensors.Tensor) []safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := gptqtest.WriteRandom(dir, spec); err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return dir
	}
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		tn.Data = slices.Clone(tn.Data)
		ts = append(ts, tn)
	}
	f.Close()
	if err := safetensors.WriteFile(path, edit(ts), nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckpointErrors(t *testing.T) {
	spec := gptqtest.RandomSpec{Config: tiny, Quant: gptq.Quantization{Bits: 4, GroupSize: 32, Sym: true, DescAct: true}, Seed: 1}
	const q = "model.layers.0.self_attn.q_proj"
	drop := func(name string) func([]safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			return slices.DeleteFunc(ts, func(t safetensors.Tensor) bool { return t.Name == name })
		}
	}
	change := func(name string, f func(*safetensors.Tensor)) func([]safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == name {
					f(&ts[i])
				}
			}
			return ts
		}
	}
	cases := []struct {
		name string
		edit func([]safetensors.Tensor) []safetensors.Tensor
		want string
	}{
		{"missing qweight", drop(q + ".qweight"), `missing tensor: "` + q + `.qweight"`},
		{"missing scales", drop(q + ".scales"), `missing tensor: "` + q + `.scales"`},
		{"wrong dtype", change(q+".scales", func(t *safetensors.Tensor) { t.DType = safetensors.BF16 }), `tensor "` + q + `.scales" is BF16[2 64], want F16[2 64]`},
		{"wrong shape", change(q+".qzeros", func(t *safetensors.Tensor) { t.Shape = []int{1, 16}; t.Data = t.Data[:64] }), `tensor "` + q + `.qzeros" is I32[1 16], want I32[2 8]`},
		{"g_idx out of range", change(q+".g_idx", func(t *safetensors.Tensor) { binary.LittleEndian.PutUint32(t.Data[8:], 9) }), `row 2 is in group 9, outside 0..1`},
		{"nonzero bias", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, safetensors.Tensor{Info: safetensors.Info{Name: q + ".bias", DType: safetensors.F16, Shape: []int{64}}, Data: append(make([]byte, 126), 0x3c, 0)})
		}, "nonzero bias"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeModified(t, spec, c.edit)
			ck, err := gptq.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			_, err = ck.Linear(tiny.Linear(0, gptq.Q))
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, gptq.ErrCheckpoint) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(c.want, "is ") && !strings.Contains(err.Error(), "model.safetensors") {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	spec := gptqtest.RandomSpec{Config: tiny, Quant: gptq.Quantization{Bits: 4, GroupSize: -1, Sym: true}, Seed: 2}
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"truncated weights", func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, "past the end of the data"},
		{"6 bits", func(dir string) {
			os.WriteFile(filepath.Join(dir, "quantize_config.json"), []byte(`{"bits":6,"group_size":-1}`), 0o644)
		}, "quantize_config.json: bad model configuration: 6-bit quantization is not supported"},
		{"no quantization", func(dir string) { os.Remove(filepath.Join(dir, "quantize_config.json")) }, "not a GPTQ model"},
		{"no weights", func(dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, "no .safetensors weights"},
		{"two weights", func(dir string) {
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "a.safetensors"))
			os.WriteFile(filepath.Join(dir, "b.safetensors"), nil, 0o644)
		}, "several .safetensors files and no index"},
		{"bad config", func(dir string) { os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{}`), 0o644) }, "config.json: bad model configuration: hidden_size is 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeModified(t, spec, nil)
			c.setup(dir)
			ck, err := gptq.Open(dir)
			if err == nil {
				ck.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestShardedAndEmbedded reads the same random model written as one file and as
// shards with an index, with the quantization settings inside config.json.
func TestShardedAndEmbedded(t *testing.T) {
	spec := gptqtest.RandomSpec{Config: tiny, Quant: gptq.Quantization{Bits: 3, GroupSize: 32, Format: "gptq_v2", DescAct: true}, Seed: 3}
	one := writeModified(t, spec, nil)
	spec.Shards, spec.BaseName = 3, "gptq_model-3bit-32g"
	sharded := writeModified(t, spec, nil)
	cfg, _ := os.ReadFile(filepath.Join(sharded, "config.json"))
	qc, _ := os.ReadFile(filepath.Join(sharded, "quantize_config.json"))
	cfg = append(cfg[:len(cfg)-1], `,"quantization_config":`+strings.Replace(string(qc), "{", `{"quant_method":"gptq",`, 1)+"}"...)
	os.WriteFile(filepath.Join(sharded, "config.json"), cfg, 0o644)
	os.Remove(filepath.Join(sharded, "quantize_config.json"))
	a, err := gptq.Open(one)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gptq.Open(sharded)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Quant.BaseName != spec.BaseName || b.Quant.Bits != a.Quant.Bits || b.Quant.Format != a.Quant.Format {
		t.Fatalf("quant %+v vs %+v", b.Quant, a.Quant)
	}
	if a.Quant.ZeroOffset() != 0 || a.Quant.Bits != 3 {
		t.Errorf("quant %+v", a.Quant)
	}
	for which := range gptq.NumLinears {
		wa, err := a.Linear(tiny.Linear(0, which))
		if err != nil {
			t.Fatal(err)
		}
		wb, err := b.Linear(tiny.Linear(0, which))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(wa.QWeight, wb.QWeight) || !slices.Equal(wa.GIdx, wb.GIdx) {
			t.Errorf("linear %d differs between the single file and the shards", which)
		}
	}
}

// TestNonFiniteRefused plants a NaN or an infinity in each kind of float tensor of a
// random checkpoint: the tensor's read fails naming the file, the tensor and the
// element.
func TestNonFiniteRefused(t *testing.T) {
	spec := gptqtest.RandomSpec{Config: tiny, Quant: gptq.Quantization{Bits: 4, GroupSize: 32, DescAct: true}, Seed: 4}
	const q = "model.layers.0.self_attn.q_proj"
	for _, c := range []struct {
		tensor string
		bits   uint16
		at     int // element
		want   string
		read   func(ck *gptq.Checkpoint) error
	}{
		{q + ".scales", 0x7e00, 70, "NaN at row 1, column 6", func(ck *gptq.Checkpoint) error { _, err := ck.Linear(tiny.Linear(0, gptq.Q)); return err }},
		{gptq.EmbedName, 0x7c00, 5, "+Inf at row 0, column 5", func(ck *gptq.Checkpoint) error {
			_, err := ck.Dense(gptq.EmbedName, tiny.Vocab, tiny.Hidden)
			return err
		}},
		{gptq.LayerNorm(0, true), 0xfc00, 63, "-Inf at element 63", func(ck *gptq.Checkpoint) error {
			_, err := ck.Dense(gptq.LayerNorm(0, true), 1, tiny.Hidden)
			return err
		}},
		{gptq.NormName, 0xffff, 0, "NaN at element 0", func(ck *gptq.Checkpoint) error { _, err := ck.Dense(gptq.NormName, 1, tiny.Hidden); return err }},
		{gptq.HeadName, 0x7c01, tiny.Vocab*tiny.Hidden - 1, "NaN at row 63, column 63", func(ck *gptq.Checkpoint) error {
			_, err := ck.Dense(gptq.HeadName, tiny.Vocab, tiny.Hidden)
			return err
		}},
	} {
		t.Run(c.tensor, func(t *testing.T) {
			dir := writeModified(t, spec, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i := range ts {
					if ts[i].Name == c.tensor {
						binary.LittleEndian.PutUint16(ts[i].Data[2*c.at:], c.bits)
					}
				}
				return ts
			})
			ck, err := gptq.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			err = c.read(ck)
			want := fmt.Sprintf("%s: bad checkpoint: tensor %q has %s", filepath.Join(dir, "model.safetensors"), c.tensor, c.want)
			if err == nil || err.Error() != want || !errors.Is(err, gptq.ErrCheckpoint) {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

// TestDescActNeedsGIdx: without g_idx an act-order layer's rows would be read in
// sequential groups, so desc_act true and no g_idx is an error; desc_act false and
// no g_idx is the sequential layout.
func TestDescActNeedsGIdx(t *testing.T) {
	const q = "model.layers.0.self_attn.q_proj"
	drop := func(ts []safetensors.Tensor) []safetensors.Tensor {
		return slices.DeleteFunc(ts, func(t safetensors.Tensor) bool { return t.Name == q+".g_idx" })
	}
	for _, descAct := range []bool{true, false} {
		spec := gptqtest.RandomSpec{Config: tiny, Quant: gptq.Quantization{Bits: 4, GroupSize: 32, DescAct: descAct}, Seed: 5}
		dir := writeModified(t, spec, drop)
		ck, err := gptq.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := ck.Linear(tiny.Linear(0, gptq.Q))
		ck.Close()
		if descAct {
			want := fmt.Sprintf("%s: bad checkpoint: desc_act is true but %s.g_idx is missing (the act-order groups of the rows)", dir, q)
			if err == nil || err.Error() != want {
				t.Errorf("desc_act, no g_idx: %v, want %q", err, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("no desc_act, no g_idx: %v", err)
		}
		if _, perm, err := gptq.ActOrder(w); perm != nil || err != nil {
			t.Errorf("no desc_act, no g_idx: permutation %v, %v; want the sequential groups", perm, err)
		}
	}
}
