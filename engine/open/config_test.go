package open

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine/openai"
)

// TestFromConfig: the spec follows the configuration, a model and a server
// from different precedences resolve to the higher, and the same precedence is
// a conflict.
func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("engine:\n  llm_url: http://file.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{openai.APIKeyEnv: "sk-test"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name     string
		env      []string
		flags    []configs.Setting
		model    string
		url, err string
	}{
		{"the file's server", nil, nil, "", "http://file.example", ""},
		{"a flag's model beats the file's server", nil, []configs.Setting{{Key: "engine.model", Value: "/m", Flag: "--model"}}, "/m", "", ""},
		{"an env model beats the file's server", []string{"AGENT_MODEL=/e"}, nil, "/e", "", ""},
		{"a flag's server beats an env model", []string{"AGENT_MODEL=/e"}, []configs.Setting{{Key: "engine.llm_url", Value: "http://flag.example", Flag: "--llm-url"}}, "", "http://flag.example", ""},
		{"two flags conflict", nil, []configs.Setting{{Key: "engine.model", Value: "/m", Flag: "--model"}, {Key: "engine.llm_url", Value: "http://x", Flag: "--llm-url"}}, "", "", "engine.model (flag --model) and engine.llm_url (flag --llm-url)"},
		{"a bad device", nil, []configs.Setting{{Key: "engine.device", Value: "cuda:x", Flag: "--device"}}, "", "", `device "cuda:x"`},
		{"a bad API", nil, []configs.Setting{{Key: "engine.llm_api", Value: "soap", Flag: "--llm-api"}}, "", "", "engine.llm_api (flag --llm-api)"},
		{"a negative speculate", []string{"AGENT_SPECULATE=-2"}, nil, "", "", "engine.speculate (env AGENT_SPECULATE): -2"},
		{"a grammar mode", nil, []configs.Setting{{Key: "engine.llm_grammar", Value: "vllm", Flag: "--llm-grammar"}}, "", "http://file.example", ""},
		{"a bad grammar mode", nil, []configs.Setting{{Key: "engine.llm_grammar", Value: "gbnf", Flag: "--llm-grammar"}}, "", "", "engine.llm_grammar (flag --llm-grammar)"},
		{"no sequences", nil, []configs.Setting{{Key: "engine.max_sequences", Value: "0", Flag: "--max-sequences"}}, "", "", "engine.max_sequences (flag --max-sequences): 0: must be 1 to 64"},
		{"too many sequences", []string{"AGENT_MAX_SEQUENCES=65"}, nil, "", "", "engine.max_sequences (env AGENT_MAX_SEQUENCES): 65"},
		{"a cache share past all", []string{"AGENT_KV_CACHE_SHARE=1.5"}, nil, "", "", "engine.kv_cache_share (env AGENT_KV_CACHE_SHARE): 1.5: must be"},
		{"a negative cache share", nil, []configs.Setting{{Key: "engine.kv_cache_share", Value: "-0.1", Flag: "--kv-cache-share"}}, "", "", "engine.kv_cache_share (flag --kv-cache-share): -0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configs.Load(configs.Options{File: file, Env: append([]string{"XDG_CONFIG_HOME=" + dir}, tt.env...), Flags: tt.flags})
			if err != nil {
				t.Fatal(err)
			}
			s, err := FromConfig(cfg, getenv)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				if strings.Contains(tt.name, "conflict") && !errors.Is(err, ErrBothEngines) {
					t.Errorf("err = %v, want ErrBothEngines", err)
				}
				return
			}
			wantGrammar := "auto"
			if strings.Contains(tt.name, "grammar") {
				wantGrammar = "vllm"
			}
			if string(s.ServerGrammar) != wantGrammar {
				t.Errorf("server grammar %q, want %q", s.ServerGrammar, wantGrammar)
			}
			if err != nil || s.Model != tt.model || s.URL != tt.url || s.APIKey != "sk-test" || s.Hub == nil || s.Speculate != 0 || s.Sequences() != DefaultSequences {
				t.Errorf("%+v, %v; want model %q, url %q, the key and a hub client", s, err, tt.model, tt.url)
			}
		})
	}
}

func TestSampling(t *testing.T) {
	c := configs.Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9, RepetitionPenalty: 1.1, Seed: 42}
	got := Sampling(c)
	if got.Temperature != 0.7 || got.TopK != 40 || got.TopP != 0.9 || got.RepetitionPenalty != 1.1 || got.Seed != 42 {
		t.Errorf("Sampling(%+v) = %+v", c, got)
	}
}

// TestFromConfigSpeculate: the speculation keys reach the Spec.
func TestFromConfigSpeculate(t *testing.T) {
	cfg, err := configs.Load(configs.Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AGENT_MODEL=/m"}, Flags: []configs.Setting{
		{Key: "engine.speculate", Value: "5", Flag: "--speculate"}, {Key: "engine.draft_model", Value: "/d", Flag: "--draft-model"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromConfig(cfg, func(string) string { return "" })
	if err != nil || s.Speculate != 5 || s.DraftModel != "/d" {
		t.Errorf("speculate %d, draft model %q, %v; want 5 and /d", s.Speculate, s.DraftModel, err)
	}
}

// TestFromConfigSequences: engine.max_sequences and engine.kv_cache_share reach
// the Spec, and a Spec without them runs DefaultSequences on the backend's share.
func TestFromConfigSequences(t *testing.T) {
	cfg, err := configs.Load(configs.Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AGENT_MODEL=/m"}, Flags: []configs.Setting{
		{Key: "engine.max_sequences", Value: "48", Flag: "--max-sequences"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromConfig(cfg, func(string) string { return "" })
	if err != nil || s.MaxSequences != 48 || s.Sequences() != 48 {
		t.Errorf("max sequences %d (%d), %v; want 48", s.MaxSequences, s.Sequences(), err)
	}
	if s.KVCacheShare != 0 {
		t.Errorf("kv cache share %g by default, want 0 (the backend's)", s.KVCacheShare)
	}
	cfg, err = configs.Load(configs.Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AGENT_MODEL=/m", "AGENT_KV_CACHE_SHARE=0.75"}})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := FromConfig(cfg, func(string) string { return "" }); err != nil || s.KVCacheShare != 0.75 {
		t.Errorf("kv cache share %g, %v; want 0.75", s.KVCacheShare, err)
	}
	if n := (Spec{Model: "/m"}).Sequences(); n != DefaultSequences {
		t.Errorf("a Spec without MaxSequences runs %d, want %d", n, DefaultSequences)
	}
}
