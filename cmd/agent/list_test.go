package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/hub/hubtest"
)

// TestListAndRm pulls two branches of a model and another model, lists them,
// and removes them again, as ollama list and rm do.
func TestListAndRm(t *testing.T) {
	cleanEnv(t)
	f := hubtest.New(t)
	main := f.Add("TheBloke/tiny-GPTQ", "main", hubtest.Model("128"))
	f.Add("TheBloke/tiny-GPTQ", "gptq-4bit-32g", hubtest.Model("32"))
	f.Add("TheBloke/other-GPTQ", "main", hubtest.Model("64"))
	cache := hubEnv(t, f)
	for _, ref := range []string{"TheBloke/tiny-GPTQ", "TheBloke/tiny-GPTQ:gptq-4bit-32g", "TheBloke/other-GPTQ"} {
		if _, errOut, code := runAgent(t, "", "pull", ref); code != 0 {
			t.Fatalf("pull %s: %s", ref, errOut)
		}
	}

	out, errOut, code := runAgent(t, "", "list")
	if code != 0 {
		t.Fatalf("list: exit %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "TheBloke/other-GPTQ ") ||
		!strings.Contains(out, "TheBloke/tiny-GPTQ:gptq-4bit-32g ") || !strings.Contains(strings.Join(strings.Fields(out), " "), "TheBloke/tiny-GPTQ "+main[:12]) ||
		!strings.Contains(out, "600.2 kB") || strings.Contains(out, "incomplete") {
		t.Errorf("list:\n%s", out)
	}
	out, _, _ = runAgent(t, "", "list", "--json")
	var repos []hub.CachedRepo
	if err := json.Unmarshal([]byte(out), &repos); err != nil || len(repos) != 2 || len(repos[1].Revisions) != 2 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	shared := repos[1].Revisions[0].Size + repos[1].Revisions[1].Size - repos[1].Size
	if shared <= 0 {
		t.Errorf("the branches share no bytes: %+v", repos[1])
	}

	// Without a terminal, rm needs --yes; a "no" on the terminal keeps it.
	if _, errOut, code := runAgent(t, "", "rm", "TheBloke/tiny-GPTQ:gptq-4bit-32g"); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("rm without --yes: exit %d %s", code, errOut)
	}
	old := stdinTerminal
	t.Cleanup(func() { stdinTerminal = old })
	stdinTerminal = func(io.Reader) bool { return true }
	if _, errOut, code := runAgent(t, "n\n", "rm", "TheBloke/tiny-GPTQ:gptq-4bit-32g"); code != 1 || !strings.Contains(errOut, "[y/N]") || !strings.Contains(errOut, "not removed") {
		t.Errorf("rm answered no: exit %d %s", code, errOut)
	}
	out, errOut, code = runAgent(t, "y\n", "rm", "TheBloke/tiny-GPTQ:gptq-4bit-32g")
	if code != 0 || !strings.Contains(out, "removed TheBloke/tiny-GPTQ:gptq-4bit-32g: 1 refs, 1 snapshots, 3 blobs") {
		t.Errorf("rm answered yes: exit %d %s%s", code, out, errOut)
	}
	stdinTerminal = old

	// main keeps every blob it shared, and loads.
	if _, err := (hub.Cache{Dir: cache}).Snapshot(hub.Ref{Repo: "TheBloke/tiny-GPTQ", Revision: "main"}); err != nil {
		t.Errorf("main after rm of the other branch: %v", err)
	}
	if _, errOut, code := runAgent(t, "", "rm", "--yes", "TheBloke/nothing"); code != 1 || !strings.Contains(errOut, "not in the cache") {
		t.Errorf("rm of a model not there: exit %d %s", code, errOut)
	}
	if _, errOut, code := runAgent(t, "", "rm", "--yes", "--all", "TheBloke/tiny-GPTQ:main"); code != 2 {
		t.Errorf("rm --all with a branch: exit %d %s", code, errOut)
	}
	if _, errOut, code := runAgent(t, "", "rm", "--yes", "not a ref"); code != 2 {
		t.Errorf("rm of a bad reference: exit %d %s", code, errOut)
	}
	out, errOut, code = runAgent(t, "", "rm", "--yes", "--all", "--json", "TheBloke/other-GPTQ")
	var rm hub.Removal
	if err := json.Unmarshal([]byte(out), &rm); code != 0 || err != nil || !rm.Whole {
		t.Errorf("rm --all --json: exit %d %v %s%s", code, err, out, errOut)
	}
	if _, err := os.Lstat(filepath.Join(cache, "models--TheBloke--other-GPTQ")); !os.IsNotExist(err) {
		t.Errorf("the repository stays: %v", err)
	}
	out, _, _ = runAgent(t, "", "list")
	if strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, "TheBloke/tiny-GPTQ ") {
		t.Errorf("list at the end:\n%s", out)
	}
	// A stopped download shows, with how to go on or clean up.
	os.WriteFile(filepath.Join(cache, "models--TheBloke--tiny-GPTQ", "blobs", "ab.incomplete"), make([]byte, 2000), 0o644)
	if out, _, _ := runAgent(t, "", "list"); !strings.Contains(out, "2.0 kB") || !strings.Contains(out, "agent rm --all TheBloke/tiny-GPTQ removes them") {
		t.Errorf("list with a partial download:\n%s", out)
	}
	// A repository folder that is a link is an error, after the others.
	os.Symlink(t.TempDir(), filepath.Join(cache, "models--TheBloke--linked"))
	out, errOut, code = runAgent(t, "", "list")
	if code != 1 || !strings.Contains(out, "TheBloke/tiny-GPTQ ") || !strings.Contains(errOut, "symlink, not followed") {
		t.Errorf("list with a linked repository: exit %d\n%s%s", code, out, errOut)
	}
}
