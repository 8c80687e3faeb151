package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		err  string
	}{
		{"TheBloke/airoboros-65B-gpt4-m2.0-GPTQ", Ref{"TheBloke/airoboros-65B-gpt4-m2.0-GPTQ", "main"}, ""},
		{"TheBloke/airoboros-65B-gpt4-m2.0-GPTQ:gptq-4bit-32g-actorder_True", Ref{"TheBloke/airoboros-65B-gpt4-m2.0-GPTQ", "gptq-4bit-32g-actorder_True"}, ""},
		{"TheBloke/x:gptq-3bit--1g-actorder_True", Ref{"TheBloke/x", "gptq-3bit--1g-actorder_True"}, ""},
		{"org/m:refs/pr/1", Ref{"org/m", "refs/pr/1"}, ""},
		{"org/m:0123456789abcdef0123456789abcdef01234567", Ref{"org/m", "0123456789abcdef0123456789abcdef01234567"}, ""},
		{"gpt2", Ref{}, "not a model reference"},
		{"./models/llama", Ref{}, "not a model reference"},
		{"/abs/path", Ref{}, "not a model reference"},
		{"a/b/c", Ref{}, "not a model reference"},
		{"org/-bad", Ref{}, "not a model reference"},
		{"org/a--b", Ref{}, "not a model reference"},
		{"org/a..b", Ref{}, "not a model reference"},
		{"org/m:", Ref{}, "empty revision"},
		{"org/m:../../x", Ref{}, "not allowed"},
		{"org/m:a/../b", Ref{}, "not allowed"},
		{"org/m:/abs", Ref{}, "empty path component"},
		{"org/m:has space", Ref{}, "character"},
		{"org/m:a:b", Ref{}, "character"},
		{"org/m:x.lock", Ref{}, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRef(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if LooksLikeRef(tt.in) {
					t.Error("LooksLikeRef = true")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRef = %+v, %v; want %+v", got, err, tt.want)
			}
			if again, err := ParseRef(got.String()); err != nil || again != got {
				t.Errorf("String %q reads back as %+v, %v", got.String(), again, err)
			}
		})
	}
}

// FuzzParseRef checks that an accepted reference never names a path that leaves
// the cache and reads back the same.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"TheBloke/x-GPTQ:gptq-4bit-32g-actorder_True", "org/m:refs/pr/1", "a/b:..", "x", "o/n:a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if !filepath.IsLocal(filepath.FromSlash(r.Revision)) || !filepath.IsLocal(r.Repo) || strings.Count(r.Repo, "/") != 1 {
			t.Fatalf("%q parsed to %+v, which leaves the cache", s, r)
		}
		if again, err := ParseRef(r.String()); err != nil || again != r {
			t.Fatalf("%q: String %q reads back as %+v, %v", s, r.String(), again, err)
		}
	})
}

func TestNormalizeETag(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`:   "abc",
		`W/"abc"`: "abc",
		`abc`:     "abc",
		` "a" `:   "a",
		``:        "",
	} {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultCacheDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": "/home/u"}, "/home/u/.cache/huggingface/hub"},
		{map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}, "/xdg/huggingface/hub"},
		{map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg", "HF_HOME": "~/hf"}, "/home/u/hf/hub"},
		{map[string]string{"HOME": "/home/u", "HF_HOME": "/hf", "HF_HUB_CACHE": "/cache"}, "/cache"},
		{map[string]string{"HOME": "/home/u", "HUGGINGFACE_HUB_CACHE": "/old"}, "/old"},
	}
	for _, tt := range tests {
		if got := DefaultCacheDir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.env, got, tt.want)
		}
	}
}

func TestNewFromEnv(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("hf_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HF_HOME": home, "HF_ENDPOINT": "https://mirror.example/", "HF_HUB_OFFLINE": "1"}
	c := New(func(k string) string { return env[k] })
	if c.Endpoint != "https://mirror.example" || c.Token != "hf_file" || !c.Offline || c.Cache.Dir != filepath.Join(home, "hub") {
		t.Errorf("client %+v", c)
	}
	env["HF_TOKEN"] = "hf_env"
	if c := New(func(k string) string { return env[k] }); c.Token != "hf_env" {
		t.Errorf("HF_TOKEN did not win over the token file: %q", c.Token)
	}
	if c := New(func(string) string { return "" }); c.Endpoint != DefaultEndpoint || c.Offline {
		t.Errorf("defaults: %+v", c)
	}
}
