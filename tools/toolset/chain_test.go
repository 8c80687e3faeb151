package toolset

import (
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/tools/search"
)

// TestSearchBackendChain: search.fallback adds the backends that are
// configured after the one in use, once each.
func TestSearchBackendChain(t *testing.T) {
	tests := []struct {
		name, backend, searx string
		fallback             []string
		want                 string // Engine(), or the error's text
	}{
		{"fallback", "duckduckgo", "http://searx.example", []string{"duckduckgo", "searxng", "corpus"}, "DuckDuckGo, then SearXNG"},
		{"searxng first", "auto", "http://searx.example", []string{"duckduckgo", "searxng"}, "SearXNG, then DuckDuckGo"},
		{"nothing to fall to", "duckduckgo", "", []string{"duckduckgo", "searxng", "corpus"}, "DuckDuckGo"},
		{"none", "duckduckgo", "http://searx.example", nil, "DuckDuckGo"},
		{"unknown", "duckduckgo", "", []string{"bing"}, `search.fallback: "bing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &configs.Config{Search: configs.Search{Backend: tt.backend, SearXNGURL: tt.searx, Fallback: tt.fallback}}
			b, err := SearchBackend(cfg, nil)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = b.Engine()
				if _, isFallback := b.(*search.Fallback); isFallback != strings.Contains(tt.want, "then") {
					t.Errorf("%T", b)
				}
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
