package gptq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/safetensors"
)

// ErrCheckpoint is wrapped by every error about a checkpoint's tensors.
var ErrCheckpoint = errors.New("bad checkpoint")

// Checkpoint is an open GPTQ model folder. Its tensors are views into the mapped
// weight files, valid until Close.
type Checkpoint struct {
	Dir     string
	Config  Config
	Quant   Quantization
	weights *safetensors.Set
}

// Open reads a model folder as AutoGPTQ and TheBloke publish it: config.json, the
// quantization settings (quantize_config.json, else config.json's
// quantization_config), and the weights (<model_file_base_name>.safetensors, else
// model.safetensors, else the folder's one .safetensors file; sharded through an
// .index.json where there is one).
func Open(dir string) (*Checkpoint, error) {
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg, embedded, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	qPath := filepath.Join(dir, "quantize_config.json")
	var quant Quantization
	switch data, err := os.ReadFile(qPath); {
	case err == nil:
		if quant, err = ParseQuantization(data); err != nil {
			return nil, fmt.Errorf("%s: %w", qPath, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	case embedded != nil:
		quant = *embedded
	default:
		return nil, fmt.Errorf("%s: %w: no quantize_config.json and no quantization_config in config.json (not a GPTQ model?)", dir, ErrConfig)
	}
	set, err := openWeights(dir, quant.BaseName)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Dir: dir, Config: cfg, Quant: quant, weights: set}, nil
}

func openWeights(dir, base string) (*safetensors.Set, error) {
	var bases []string
	if base != "" {
		bases = append(bases, base)
	}
	bases = append(bases, "model")
	for _, b := range bases {
		ix := filepath.Join(dir, b+".safetensors.index.json")
		if _, err := os.Stat(ix); err == nil {
			return safetensors.OpenIndex(ix)
		}
		one := filepath.Join(dir, b+".safetensors")
		if _, err := os.Stat(one); err == nil {
			return safetensors.OpenFiles(one)
		}
	}
	found, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, err
	}
	found = slices.DeleteFunc(found, func(p string) bool { return filepath.Base(p) == "reference.safetensors" })
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%s: %w: no .safetensors weights", dir, ErrCheckpoint)
	case 1:
		return safetensors.OpenFiles(found[0])
	}
	return nil, fmt.Errorf("%s: %w: several .safetensors files and no index: %s", dir, ErrCheckpoint, strings.Join(found, ", "))
}

// Close unmaps the weights.
func (c *Checkpoint) Close() error { return c.weights.Close() }

// tensor returns the named tensor, checking its dtype and shape.
func (c *Checkpoint) tensor(name string, dtype safetensors.DType, shape ...int) (safetensors.Tensor, error) {
	t, err := c.weights.Tensor(name)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if t.DType != dtype || !slices.Equal(t.Shape, shape) {
		return t, fmt.Errorf("%s: %w: tensor %q is %s%v, want %s%v", t.File, ErrCheckpoint, name, t.DType, t.Shape, dtype, shape)
	}
	return t, nil
}

// Has reports whether the checkpoint holds the named tensor.
func (c *Checkpoint) Has(name string) bool {
	_, err := c.weights.Tensor(name)
	return err == nil
}

// Dense returns a float16 tensor of rows×cols (rows 1 for a vector, stored [cols]),
// refusing one with a NaN or an infinity.
func (c *Checkpoint) Dense(name string, rows, cols int) (engine.DenseWeight, error) {
	shape := []int{rows, cols}
	if rows == 1 {
		shape = []int{cols}
	}
	t, err := c.tensor(name, safetensors.F16, shape...)
	if err != nil {
		return engine.DenseWeight{}, err
	}
	if err := checkFinite(t); err != nil {
		return engine.DenseWeight{}, err
	}
	return engine.DenseWeight{Name: name, Rows: rows, Cols: cols, F16: t.Data}, nil
}

// Linear returns the quantized layer under prefix (e.g.
// model.layers.0.self_attn.q_proj) with in inputs and out outputs, every tensor
// checked against the layout of section 1 of REFERENCE.md and its scales for NaN and
// infinities. A checkpoint without g_idx gets the sequential one (row k in group
// k/G), unless its quantization says desc_act, which needs g_idx.
func (c *Checkpoint) Linear(prefix string, in, out int) (engine.QuantWeight, error) {
	l := Layout{In: in, Out: out, Bits: c.Quant.Bits, GroupSize: c.Quant.GroupSize}
	if err := l.Check(); err != nil {
		return engine.QuantWeight{}, fmt.Errorf("%s: %w: %v", prefix, ErrCheckpoint, err)
	}
	w := engine.QuantWeight{Name: prefix, In: in, Out: out, Bits: l.Bits, GroupSize: l.Group(), ZeroOffset: c.Quant.ZeroOffset()}
	qw, err := c.tensor(prefix+".qweight", safetensors.I32, l.QWeight()...)
	if err != nil {
		return w, err
	}
	qz, err := c.tensor(prefix+".qzeros", safetensors.I32, l.QZeros()...)
	if err != nil {
		return w, err
	}
	sc, err := c.tensor(prefix+".scales", safetensors.F16, l.Scales()...)
	if err != nil {
		return w, err
	}
	if err := checkFinite(sc); err != nil {
		return w, err
	}
	w.QWeight, w.QZeros, w.Scales = qw.Data, qz.Data, sc.Data
	switch {
	case c.Has(prefix + ".g_idx"):
		gi, err := c.tensor(prefix+".g_idx", safetensors.I32, in)
		if err != nil {
			return w, err
		}
		w.GIdx = gi.Data
		if _, _, err := readGIdx(w); err != nil {
			return w, fmt.Errorf("%s: %w: %v", gi.File, ErrCheckpoint, err)
		}
	case c.Quant.DescAct:
		// Without g_idx the rows would be read in sequential groups, which is not
		// how an act-order layer was quantized: a wrong answer, not an error.
		return w, fmt.Errorf("%s: %w: desc_act is true but %s.g_idx is missing (the act-order groups of the rows)", c.Dir, ErrCheckpoint, prefix)
	default:
		w.GIdx = SequentialGIdx(in, w.GroupSize)
	}
	if c.Has(prefix + ".bias") {
		b, err := c.tensor(prefix+".bias", safetensors.F16, out)
		if err != nil {
			return w, err
		}
		for i := 0; i < len(b.Data); i += 2 {
			if b.Data[i]|b.Data[i+1]&0x7f != 0 {
				return w, fmt.Errorf("%s: %w: tensor %q: a nonzero bias is not supported (LLaMA has none)", b.File, ErrCheckpoint, b.Name)
			}
		}
	}
	return w, nil
}

// SequentialGIdx is the g_idx of a layer quantized without act-order: row k is in
// group k/groupSize.
func SequentialGIdx(in, groupSize int) []byte {
	b := make([]byte, 4*in)
	for k := range in {
		binary.LittleEndian.PutUint32(b[4*k:], uint32(k/groupSize))
	}
	return b
}
