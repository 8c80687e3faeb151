package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/hub/hubtest"
)

// hubEnv points the hub client at a fake hub and a fresh cache.
func hubEnv(t *testing.T, f *hubtest.Hub) string {
	home := filepath.Join(t.TempDir(), "hf")
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_ENDPOINT", f.Server.URL)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	return filepath.Join(home, "hub")
}

func TestPullCommand(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("TheBloke/tiny-GPTQ", "gptq-4bit-32g-actorder_True", files)
	cache := hubEnv(t, f)
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1") // --endpoint must win
	snapDir := filepath.Join(cache, "models--TheBloke--tiny-GPTQ", "snapshots", commit)

	out, errOut, code := runAgent(t, "", "pull", "--endpoint", f.Server.URL+"/", "TheBloke/tiny-GPTQ:gptq-4bit-32g-actorder_True")
	if code != 0 || out != snapDir+"\n" {
		t.Fatalf("exit %d, stdout %q, want %q\n%s", code, out, snapDir, errOut)
	}
	for _, want := range []string{"pulled config.json", "pulled model-00002-of-00002.safetensors", "(100%)", "7/7 files"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "\r") {
		t.Error("progress redraws a line when stderr is not a terminal")
	}
	for _, name := range []string{"README.md", "pytorch_model.bin"} {
		if _, err := os.Lstat(filepath.Join(snapDir, name)); err == nil {
			t.Errorf("%s was pulled without --include", name)
		}
	}

	out, errOut, code = runAgent(t, "", "pull", "--endpoint", f.Server.URL, "--json", "--include", "*.md", "--include", "config.json", "TheBloke/tiny-GPTQ:gptq-4bit-32g-actorder_True")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Repo, Revision, Commit, Path string
		Files                        []struct {
			Path             string
			Size, Downloaded int64
			ETag             string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Repo != "TheBloke/tiny-GPTQ" || res.Revision != "gptq-4bit-32g-actorder_True" || res.Commit != commit || res.Path != snapDir || len(res.Files) != 2 {
		t.Fatalf("json %+v", res)
	}
	for _, fl := range res.Files {
		switch fl.Path {
		case "README.md":
			if fl.Downloaded != int64(len(files["README.md"])) || fl.ETag != hubtest.GitBlobID(files["README.md"]) {
				t.Errorf("README.md: %+v", fl)
			}
		case "config.json":
			if fl.Downloaded != 0 {
				t.Errorf("config.json was downloaded again: %+v", fl)
			}
		default:
			t.Errorf("unexpected %+v", fl)
		}
	}
}

func TestPullCommandErrors(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	hubEnv(t, f)
	tests := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"pull"}, 2, "want one REPO"},
		{[]string{"pull", "not-a-ref"}, 2, "not a model reference"},
		{[]string{"pull", "--include", "[", "org/m"}, 2, "bad glob"},
		{[]string{"pull", "org/none"}, 1, "repository org/none not found"},
		{[]string{"pull", "org/m:nope"}, 1, `no branch, tag or commit "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runAgent(t, "", tt.args...)
			if code != tt.code || out != "" || !strings.Contains(errOut, tt.says) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d saying %q", code, out, errOut, tt.code, tt.says)
			}
		})
	}
}

func TestPullCommandUnreachableUsesCache(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	hubEnv(t, f)
	want, errOut, code := runAgent(t, "", "pull", "org/m")
	if code != 0 {
		t.Fatal(errOut)
	}
	f.Server.Close()
	out, errOut, code := runAgent(t, "", "pull", "org/m")
	if code != 0 || out != want || !strings.Contains(errOut, "using the cached snapshot of org/m") {
		t.Errorf("exit %d, stdout %q (want %q), stderr %s", code, out, want, errOut)
	}
}

// TestModelFromHub runs perplexity on a fixture checkpoint named by its hub
// reference: refused until pulled, pulled with --pull, then read from the cache.
func TestModelFromHub(t *testing.T) {
	fixture := gptqFixture("tiny-4bit-nogroup-actorder")
	files := map[string][]byte{}
	for _, name := range []string{"config.json", "quantize_config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(fixture, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	f := hubtest.New(t)
	f.Add("org/tiny", "gptq-4bit", files)
	hubEnv(t, f)
	args := []string{"perplexity", "--device", "cpu", "--ids", "1,5,9,13,2"}

	want, errOut, code := runAgent(t, "", append(args, "--model", fixture)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := runAgent(t, "", append(args, "--model", "org/tiny:gptq-4bit")...)
	if code != 1 || out != "" || !strings.Contains(errOut, "agent pull org/tiny:gptq-4bit") || !strings.Contains(errOut, "--pull") {
		t.Errorf("not pulled: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	out, errOut, code = runAgent(t, "", append(args, "--model", "org/tiny:gptq-4bit", "--pull")...)
	if code != 0 || out != want || !strings.Contains(errOut, "pulled model.safetensors") {
		t.Errorf("--pull: exit %d, stdout %q (want %q), stderr %s", code, out, want, errOut)
	}
	f.Server.Close() // from now on the cache alone
	t.Setenv("HF_HUB_OFFLINE", "1")
	out, errOut, code = runAgent(t, "", append(args, "--model", "org/tiny:gptq-4bit")...)
	if code != 0 || out != want || strings.Contains(errOut, "pull") {
		t.Errorf("cached: exit %d, stdout %q (want %q), stderr %s", code, out, want, errOut)
	}

	// A folder of that name wins over the hub.
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("org/tiny", 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runAgent(t, "", append(args, "--model", "org/tiny")...)
	if code != 1 || !strings.Contains(errOut, "org/tiny") || strings.Contains(errOut, "agent pull") {
		t.Errorf("a folder named like a reference: exit %d, stderr %s", code, errOut)
	}
}

// TestPullAgain: a second pull of what the cache holds whole says so, instead of
// "pulled (0 B)"; the first one's progress gives the speed and the time left.
func TestPullAgain(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	hubEnv(t, f)
	first, errOut, code := runAgent(t, "", "pull", "org/m")
	if code != 0 {
		t.Fatal(errOut)
	}
	if !strings.Contains(errOut, "/s, ") || !strings.Contains(errOut, " left") {
		t.Errorf("progress gives no speed and time left:\n%s", errOut)
	}
	again, errOut, code := runAgent(t, "", "pull", "org/m")
	if code != 0 || again != first {
		t.Fatalf("exit %d, stdout %q (want %q): %s", code, again, first, errOut)
	}
	if !strings.Contains(errOut, "org/m is already complete in the cache") || strings.Contains(errOut, "pulled") {
		t.Errorf("a repeated pull says:\n%s\nwant that it is already complete", errOut)
	}
}
