package configs

import (
	"strings"
	"testing"
)

func TestListing(t *testing.T) {
	c, err := Load(Options{Env: []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AGENT_MODEL=/my model"},
		Flags: []Setting{{Key: "sampling.top_k", Value: "7", Flag: "--top-k"}}})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listing()
	if l.File != "" || len(l.Values) != len(c.Fields()) {
		t.Fatalf("listing of %d values for %d fields, file %q", len(l.Values), len(c.Fields()), l.File)
	}
	byKey := map[string]Entry{}
	for _, e := range l.Values {
		byKey[e.Key] = e
	}
	if e := byKey["engine.model"]; e.Value != "/my model" || e.Source != "env AGENT_MODEL" || e.Env != "AGENT_MODEL" {
		t.Errorf("engine.model: %+v", e)
	}
	if e := byKey["sampling.top_k"]; e.Value != "7" || e.Source != "flag --top-k" {
		t.Errorf("sampling.top_k: %+v", e)
	}
	var b strings.Builder
	if err := l.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"# config file: none\n", `"/my model"`, "# env AGENT_MODEL", "# flag --top-k", "engine.tokenizer "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
