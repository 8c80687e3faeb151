package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/internal/yamlpos"
)

func TestLoadDefaults(t *testing.T) {
	// An empty variable for a number or switch counts as unset.
	c, err := Load(Options{Env: []string{"HOME=/home/u", "AGENT_ALLOW_PRIVATE_NETWORKS=", "AGENT_FETCH_MAX_URLS="}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Search.DuckDuckGoURL != "https://html.duckduckgo.com/html/" || c.Fetch.Timeout != 20*time.Second || c.Fetch.AllowPrivateNetworks {
		t.Errorf("defaults = %+v", c)
	}
	if c.CacheDir != "/home/u/.cache/agent" {
		t.Errorf("cache_dir = %q", c.CacheDir)
	}
	for _, f := range c.Fields() {
		if src := c.Source(f.Key); src.Kind != "default" {
			t.Errorf("%s: source %v", f.Key, src)
		}
		if f.Env == "" || !strings.HasPrefix(f.Env, "AGENT_") {
			t.Errorf("%s has no AGENT_ environment variable", f.Key)
		}
	}
}

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "xdg", "agent")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cfgDir, "config.yaml")
	yaml := "tools_file: my-tools.yaml\nsearch:\n  region: de-de\n  searxng_url: http://file.example\nfetch:\n  timeout: 5s\n  max_urls: 2\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"AGENT_SEARXNG_URL=http://env.example",
		"AGENT_ALLOW_PRIVATE_NETWORKS=1",
		"AGENT_FETCH_TIMEOUT=7s",
	}
	c, err := Load(Options{Env: env, Flags: []Setting{{Key: "fetch.timeout", Value: "9s", Flag: "--timeout"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, value string
		source     Source
	}{
		{"search.backend", "auto", Source{Kind: "default"}},
		{"search.region", "de-de", Source{"file", file + ":3"}},
		{"search.searxng_url", "http://env.example", Source{"env", "AGENT_SEARXNG_URL"}},
		{"fetch.allow_private_networks", "true", Source{"env", "AGENT_ALLOW_PRIVATE_NETWORKS"}},
		{"fetch.timeout", "9s", Source{"flag", "--timeout"}},
		{"fetch.max_urls", "2", Source{"file", file + ":7"}},
		{"tools_file", filepath.Join(cfgDir, "my-tools.yaml"), Source{"file", file + ":1"}},
		{"cache_dir", filepath.Join(dir, "cache", "agent"), Source{"default", "XDG cache directory"}},
	}
	values := map[string]string{}
	for _, f := range c.Fields() {
		values[f.Key] = f.String()
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if values[tt.key] != tt.value {
				t.Errorf("value = %q, want %q", values[tt.key], tt.value)
			}
			if got := c.Source(tt.key); got != tt.source {
				t.Errorf("source = %v, want %v", got, tt.source)
			}
		})
	}
	if c.File() != file {
		t.Errorf("File() = %q", c.File())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.yaml", "search:\n  backend: searxng\n  duckduckgo_ulr: x\nfetch:\n  timout: 3s\n  max_bytes: lots\n")
	syntax := write("syntax.yaml", "search:\n  backend: [unclosed\n")
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"unknown keys and bad types", Options{File: bad}, []string{
			bad + `:3:3: unknown field "duckduckgo_ulr" in search (did you mean "duckduckgo_url"?)`,
			bad + `:5:3: unknown field "timout" in fetch (did you mean "timeout"?)`,
		}},
		{"syntax", Options{File: syntax}, []string{syntax + ":", "did not find expected ',' or ']'"}},
		{"missing explicit file", Options{File: filepath.Join(dir, "nope.yaml")}, []string{"no such file"}},
		{"bad env value", Options{Env: []string{"AGENT_FETCH_MAX_URLS=many"}}, []string{`environment variable AGENT_FETCH_MAX_URLS: "many" is not an integer`}},
		{"bad env bool", Options{Env: []string{"AGENT_ALLOW_PRIVATE_NETWORKS=yes please"}}, []string{"AGENT_ALLOW_PRIVATE_NETWORKS"}},
		{"bad flag", Options{Flags: []Setting{{Key: "fetch.timeout", Value: "soon", Flag: "--timeout"}}}, []string{"flag --timeout: fetch.timeout: time: invalid duration"}},
		{"unknown flag key", Options{Flags: []Setting{{Key: "nope", Value: "1", Flag: "--nope"}}}, []string{`unknown configuration key "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.opts)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Type errors are reported once the keys are right, each at its value.
	typ := write("type.yaml", "fetch:\n  max_bytes: lots\n  timeout: abc\n  robots: maybe\n  user_agent: [a, b]\nsampling: 3\n")
	_, err := Load(Options{File: typ})
	want := []string{
		typ + `:2:14: fetch.max_bytes: expected an integer, got "lots"`,
		typ + `:3:12: fetch.timeout: expected a duration (such as 10s or 1m30s), got "abc"`,
		typ + `:4:11: fetch.robots: expected true or false, got "maybe"`,
		typ + `:5:15: fetch.user_agent: expected a string, got a list`,
		typ + `:6:11: sampling: expected a mapping, got "3"`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("type errors:\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.File != typ || e.Line != 2 || e.Col != 14 {
		t.Errorf("first error = %#v", e)
	}
}

func TestDecodeEmptyAndMissingDefaultFile(t *testing.T) {
	var c Config
	if err := yamlpos.Decode("empty.yaml", []byte("# nothing\n"), &c); err != nil {
		t.Fatal(err)
	}
	// A missing XDG file is no error.
	if _, err := Load(Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultFilesDecodeStrictly(t *testing.T) {
	var c Config
	if err := yamlpos.Decode("config.yaml", DefaultYAML, &c); err != nil {
		t.Fatal(err)
	}
	if len(ToolsExampleYAML) == 0 {
		t.Fatal("example tools YAML is empty")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(string(DefaultYAML))
	f.Add("search: {backend: x, nope: 1}\nfetch: [1, 2]\n")
	f.Add("a: &x {b: *x}\n")
	f.Fuzz(func(t *testing.T, s string) {
		var c Config
		err := yamlpos.Decode("f.yaml", []byte(s), &c)
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

func TestLoadModelPathOrRef(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models", "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ model, want string }{
		{"models/tiny", filepath.Join(dir, "models", "tiny")}, // a folder beside the file
		{"TheBloke/x-GPTQ:gptq-4bit-32g-actorder_True", "TheBloke/x-GPTQ:gptq-4bit-32g-actorder_True"},
		{"/abs/model", "/abs/model"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			file := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(file, []byte("engine:\n  model: "+tt.model+"\n  pull: true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(Options{File: file, Env: []string{"HOME=/home/u"}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Engine.Model != tt.want || !c.Engine.Pull {
				t.Errorf("engine = %+v, want model %q and pull", c.Engine, tt.want)
			}
		})
	}
}
