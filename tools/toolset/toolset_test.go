package toolset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
)

// load is the default configuration, with no file read.
func load(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(configs.Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSearchBackend(t *testing.T) {
	for _, tc := range []struct {
		backend, url, want, err string
	}{
		{"", "", "DuckDuckGo", ""},
		{"auto", "", "DuckDuckGo", ""},
		{"auto", "http://searx.example", "SearXNG", ""},
		{"searxng", "http://searx.example", "SearXNG", ""},
		{"duckduckgo", "http://searx.example", "DuckDuckGo", ""},
		{"searxng", "", "", "search.searxng_url"},
		{"bing", "", "", `"bing": want duckduckgo, searxng or auto`},
	} {
		cfg := load(t)
		cfg.Search.Backend, cfg.Search.SearXNGURL, cfg.Search.Fallback = tc.backend, tc.url, nil
		b, err := SearchBackend(cfg, nil)
		if tc.err != "" {
			if !errors.Is(err, ErrSearchBackend) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %q: err = %v, want ErrSearchBackend with %q", tc.backend, tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || b.Engine() != tc.want {
			t.Errorf("%q %q: %v, %v; want %s", tc.backend, tc.url, b, err, tc.want)
		}
	}
}

func TestBuildBuiltins(t *testing.T) {
	reg, warnings, err := Build(t.Context(), load(t), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	for _, name := range []string{"DuckDuckGo", "TextScraper", "HyperlinkExtractor", "KnowledgeModel"} {
		if !reg.Has(name) {
			t.Errorf("no %s in %v", name, reg.Names())
		}
	}
}

// TestBuildCustomTools: a custom tool that clashes with a built-in is disabled
// with a warning, alone; a broken tools file is an error.
func TestBuildCustomTools(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tools.yaml")
	yaml := `tools:
  - name: Echo
    description: Echoes.
    command: {argv: [echo, "{{ .Input }}"]}
  - name: DuckDuckGo
    description: A clash.
    command: {argv: [echo, "{{ .Input }}"]}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := load(t)
	cfg.ToolsFile = file
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reg, warnings, err := Build(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Has("Echo") {
		t.Errorf("Echo missing from %v (warnings %v)", reg.Names(), warnings)
	}
	if !slices.ContainsFunc(warnings, func(w error) bool { return strings.Contains(w.Error(), "tool DuckDuckGo is disabled") }) {
		t.Errorf("warnings = %v, want DuckDuckGo disabled", warnings)
	}

	if err := os.WriteFile(file, []byte("tools: [nonsense"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Build(ctx, cfg, nil); err == nil {
		t.Error("a broken tools file was accepted")
	}
}
