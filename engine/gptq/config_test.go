package gptq

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestConfigGolden parses every testdata/*.json and compares with its .golden file.
func TestConfigGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if strings.HasPrefix(filepath.Base(path), "quantize") {
				q, err := ParseQuantization(data)
				got = fmt.Sprintf("%+v\nerr: %v\n", q, err)
			} else {
				c, q, err := ParseConfig(data)
				got = fmt.Sprintf("%+v\nhead dim: %d\nquantization: %+v\nerr: %v\n", c, c.HeadDim(), q, err)
			}
			golden := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	base := `"hidden_size":256,"intermediate_size":768,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":1024,"max_position_embeddings":2048`
	cases := []struct{ name, json, want string }{
		{"not json", `{`, "unexpected end"},
		{"not llama", `{"model_type":"mistral",` + base + `}`, `model_type "mistral"`},
		{"gelu", `{"hidden_act":"gelu",` + base + `}`, "hidden_act"},
		{"missing hidden", `{"intermediate_size":768,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":1024,"max_position_embeddings":2048}`, "hidden_size is 0"},
		{"heads do not divide", `{` + base + `,"num_attention_heads":3}`, "not a multiple of num_attention_heads"},
		{"kv heads do not divide", `{` + base + `,"num_key_value_heads":3}`, "not a multiple of num_key_value_heads"},
		{"rope scaling", `{` + base + `,"rope_scaling":{"type":"linear","factor":2}}`, "rope_scaling"},
		{"eps", `{` + base + `,"rms_norm_eps":0}`, "rms_norm_eps"},
		{"eos outside vocab", `{` + base + `,"eos_token_id":5000}`, "outside the vocabulary"},
		{"bad eos", `{` + base + `,"eos_token_id":"x"}`, "eos_token_id"},
		{"bad embedded quant", `{` + base + `,"quantization_config":{"quant_method":"awq","bits":4,"group_size":128}}`, `quant_method "awq"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ParseConfig([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	eos, _, err := ParseConfig([]byte(`{` + base + `,"eos_token_id":[2,7]}`))
	if err != nil || eos.EOS != 2 || eos.KVHeads != 4 {
		t.Errorf("list eos: %+v %v", eos, err)
	}
}

func TestQuantizationErrors(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"5 bits", `{"bits":5,"group_size":128}`, "5-bit quantization is not supported"},
		{"no bits", `{"group_size":128}`, "bits and group_size are required"},
		{"zero group", `{"bits":4,"group_size":0}`, "group_size 0"},
		{"format", `{"bits":4,"group_size":128,"checkpoint_format":"marlin"}`, `checkpoint_format "marlin"`},
		{"not json", `[`, "unexpected end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseQuantization([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func seedJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseConfig(f *testing.F) {
	seedJSON(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseConfig(data)
		if err == nil && (c.HeadDim() <= 0 || c.Heads%c.KVHeads != 0) {
			t.Fatalf("accepted %+v", c)
		}
	})
}

func FuzzParseQuantization(f *testing.F) {
	seedJSON(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseQuantization(data)
		if err == nil && CheckBits(q.Bits) != nil {
			t.Fatalf("accepted %+v", q)
		}
	})
}
