package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusTools: --corpus adds LocalSearch and LocalReader over a folder, and a
// search finds the document that holds the words.
func TestCorpusTools(t *testing.T) {
	dir := t.TempDir()
	docs := map[string]string{
		"budget.md": "---\nurl: notes://budget\ntitle: Budget meeting\n---\nWe agreed to move the lighthouse budget to March.\n",
		"garden.md": "---\nurl: notes://garden\ntitle: Garden\n---\nTomatoes need watering twice a week.\n",
	}
	for name, text := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := runAgent(t, "", "tools", "--corpus", dir)
	if code != 0 || !strings.Contains(out, "LocalSearch[") || !strings.Contains(out, "LocalReader[") {
		t.Fatalf("tools: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runAgent(t, "", "tools", "call", "LocalSearch", "lighthouse budget", "--corpus", dir)
	if code != 0 || !strings.Contains(out, "notes://budget") || strings.Contains(out, "notes://garden") {
		t.Fatalf("LocalSearch: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runAgent(t, "", "tools", "call", "LocalReader", "notes://garden", "--corpus", dir)
	if code != 0 || !strings.Contains(out, "Tomatoes need watering") {
		t.Fatalf("LocalReader: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runAgent(t, "", "tools", "--corpus", filepath.Join(dir, "missing"))
	if code == 0 || !strings.Contains(errOut, "missing") {
		t.Fatalf("a missing corpus folder: exit %d, stderr %q", code, errOut)
	}
}
