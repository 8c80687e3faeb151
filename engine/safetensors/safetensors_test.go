package safetensors

import (
	fixturesdir "github.com/rewoo-agent/agent/internal/fixtures"

	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures is the repository's fixtures folder (internal/fixtures).
func fixtures(t testing.TB) string { return fixturesdir.Dir() }

// raw builds a file from a header string and n data bytes.
func raw(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

// TestFixture reads a file written by the Python safetensors library.
func TestFixture(t *testing.T) {
	path := filepath.Join(fixtures(t), "gptq", "tiny-4bit-128g-actorder", "model.safetensors")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	cases := []struct {
		name  string
		dtype DType
		shape []int
	}{
		{"lm_head.weight", F16, []int{1024, 256}},
		{"model.layers.0.mlp.down_proj.qweight", I32, []int{96, 256}},
		{"model.layers.0.mlp.down_proj.qzeros", I32, []int{6, 32}},
		{"model.layers.0.input_layernorm.weight", F16, []int{256}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, err := f.Tensor(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if tn.DType != c.dtype || !equal(tn.Shape, c.shape) || int64(len(tn.Data)) != tn.Elements()*int64(c.dtype.Size()) {
				t.Errorf("got %s%v with %d bytes", tn.DType, tn.Shape, len(tn.Data))
			}
		})
	}
	// A symmetric 4-bit checkpoint stores every zero as 7 (0x77777777).
	z, _ := f.Tensor("model.layers.0.mlp.down_proj.qzeros")
	if binary.LittleEndian.Uint32(z.Data) != 0x77777777 {
		t.Errorf("qzeros[0] = %#x", binary.LittleEndian.Uint32(z.Data))
	}
	if _, err := f.Tensor("nope"); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing tensor error = %v", err)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var badFiles = []struct {
	name string
	data []byte
	want string
}{
	{"empty", nil, "shorter than the 8-byte header length"},
	{"short", []byte{1, 2, 3}, "shorter than the 8-byte header length"},
	{"header larger than file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "larger than the file"},
	{"huge header length", append(binary.LittleEndian.AppendUint64(nil, 1<<63), "{}"...), "larger than the file"},
	{"not an object", raw(`[1,2]`, 0), "not a JSON object"},
	{"bad json", raw(`{"a":`, 0), "header"},
	{"unknown dtype", raw(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}`, 2), `tensor "a": unknown dtype "Q4"`},
	{"offsets not a pair", raw(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0]}}`, 2), `tensor "a": data_offsets`},
	{"end before begin", raw(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, 2), `tensor "a": bad data_offsets`},
	{"truncated data", raw(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), `tensor "a": data ends at 16, past the end of the data (8 bytes)`},
	{"shape disagrees", raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, 16), `tensor "a": F32[3] needs 12 bytes, data_offsets give 16`},
	{"negative dim", raw(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, 0), `bad dimension -1`},
	{"overflowing shape", raw(`{"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}`, 0), `overflows`},
	{"overlap", raw(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, 6), `overlap`},
	{"unknown field", raw(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}`, 1), `unknown field`},
	{"bad metadata", raw(`{"__metadata__":{"a":1}}`, 0), `__metadata__`},
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range badFiles {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q lacks %q or the path", err, c.want)
			}
		})
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	in := []Tensor{
		{Info: Info{Name: "w", DType: F16, Shape: []int{2, 3}}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Info: Info{Name: "scalar", DType: I32}, Data: []byte{7, 0, 0, 0}},
		{Info: Info{Name: "empty", DType: F32, Shape: []int{0, 4}}, Data: nil},
		{Info: Info{Name: "b", DType: U8, Shape: []int{3}}, Data: []byte{1, 2, 3}},
	}
	if err := WriteFile(path, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(data); n%8 != 0 {
		t.Errorf("header length %d not padded to 8", n)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range in {
		got, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != want.DType || len(got.Shape) != len(want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %s%v %v", want.Name, got.DType, got.Shape, got.Data)
		}
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	bad := []Tensor{{Info: Info{Name: "w", DType: F16, Shape: []int{2}}, Data: []byte{1}}}
	if err := Write(new(bytes.Buffer), bad, nil); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("short data: %v", err)
	}
}

func TestIndex(t *testing.T) {
	dir := t.TempDir()
	a := []Tensor{{Info: Info{Name: "x", DType: U8, Shape: []int{1}}, Data: []byte{1}}}
	b := []Tensor{{Info: Info{Name: "y", DType: U8, Shape: []int{1}}, Data: []byte{2}}}
	for name, ts := range map[string][]Tensor{"a.safetensors": a, "b.safetensors": b} {
		if err := WriteFile(filepath.Join(dir, name), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, index, want string
	}{
		{"ok", `{"metadata":{},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}}`, ""},
		{"tensor not in shard", `{"weight_map":{"x":"b.safetensors"}}`, `missing tensor: "x"`},
		{"missing shard", `{"weight_map":{"x":"c.safetensors"}}`, "c.safetensors"},
		{"path escapes", `{"weight_map":{"x":"../a.safetensors"}}`, "not a file name"},
		{"no weight_map", `{}`, "no weight_map"},
		{"bad json", `{`, "index"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "model.safetensors.index.json")
			os.WriteFile(path, []byte(c.index), 0o644)
			s, err := OpenIndex(path)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			y, err := s.Tensor("y")
			if err != nil || y.Data[0] != 2 || !strings.HasSuffix(y.File, "b.safetensors") {
				t.Errorf("y = %+v, %v", y, err)
			}
			if _, err := s.Tensor("z"); !errors.Is(err, ErrMissing) {
				t.Errorf("z: %v", err)
			}
			if got := s.Names(); len(got) != 2 {
				t.Errorf("names %v", got)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, c := range badFiles {
		f.Add(c.data)
	}
	var buf bytes.Buffer
	Write(&buf, []Tensor{{Info: Info{Name: "w", DType: F16, Shape: []int{2}}, Data: []byte{1, 2, 3, 4}}}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	fix, err := os.ReadFile(filepath.Join(fixtures(f), "gptq", "tiny-4bit-128g-actorder", "model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fix[:8+binary.LittleEndian.Uint64(fix)])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data, int64(len(data)))
		if err != nil {
			return
		}
		for _, i := range h.Tensors {
			if i.Begin < 0 || i.End < i.Begin || h.DataStart+i.End > int64(len(data)) {
				t.Fatalf("accepted out-of-range tensor %+v", i)
			}
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"weight_map":{"x":"a.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"x":"../a"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		wm, err := ParseIndex(data)
		if err != nil {
			return
		}
		for _, file := range wm {
			if filepath.Base(file) != file {
				t.Fatalf("accepted %q", file)
			}
		}
	})
}
