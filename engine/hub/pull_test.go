package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/rewoo-agent/agent/engine/hub/hubtest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkLayout verifies the cache file by file as huggingface_hub would read it.
func checkLayout(t *testing.T, c *Client, ref Ref, commit string, files map[string][]byte, want []string) {
	t.Helper()
	repoDir := c.Cache.RepoDir(ref.Repo)
	if filepath.Base(repoDir) != "models--"+strings.ReplaceAll(ref.Repo, "/", "--") {
		t.Errorf("repository folder %s", repoDir)
	}
	if ref.Revision != commit {
		got, err := os.ReadFile(filepath.Join(repoDir, "refs", ref.Revision))
		if err != nil || string(got) != commit {
			t.Errorf("refs/%s = %q, %v; want %q and no newline", ref.Revision, got, err, commit)
		}
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	entries, err := os.ReadDir(snap)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("snapshot holds %v, want %v", names, want)
	}
	for _, name := range want {
		content := files[name]
		etag := hubtest.GitBlobID(content)
		if hubtest.IsLFS(name) {
			etag = hubtest.SHA256(content)
		}
		target, err := os.Readlink(filepath.Join(snap, name))
		if err != nil || target != "../../blobs/"+etag {
			t.Errorf("%s -> %q (%v), want ../../blobs/%s", name, target, err, etag)
		}
		got, err := os.ReadFile(filepath.Join(snap, name))
		if err != nil || string(got) != string(content) {
			t.Errorf("%s: content differs (%d bytes, %v)", name, len(got), err)
		}
	}
	blobs, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
	for _, b := range blobs {
		if strings.HasSuffix(b.Name(), ".incomplete") {
			t.Errorf("left behind: blobs/%s", b.Name())
		}
	}
}

var gptqFiles = []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
	"model.safetensors.index.json", "quantize_config.json", "tokenizer.model", "tokenizer_config.json"}

func TestPullLayout(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("TheBloke/tiny-GPTQ", "main", files)
	c := newClient(t, f)
	c.Token = hubtest.Token
	var last Progress
	c.Progress = func(p Progress) { last = p }
	ref, _ := ParseRef("TheBloke/tiny-GPTQ")
	snap, err := c.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit != commit || snap.Dir != filepath.Join(c.Cache.RepoDir(ref.Repo), "snapshots", commit) {
		t.Errorf("snapshot %s at %s", snap.Commit, snap.Dir)
	}
	checkLayout(t, c, ref, commit, files, gptqFiles)
	var total int64
	for _, n := range gptqFiles {
		total += int64(len(files[n]))
	}
	if last.Done != total || last.Total != total || last.FilesDone != len(gptqFiles) || last.Files != len(gptqFiles) {
		t.Errorf("last progress %+v, want %d of %d bytes, %d files", last, total, total, len(gptqFiles))
	}
	for _, fl := range snap.Files {
		if fl.Downloaded != fl.Size || fl.Size != int64(len(files[fl.Path])) {
			t.Errorf("%s: downloaded %d, size %d, want %d", fl.Path, fl.Downloaded, fl.Size, len(files[fl.Path]))
		}
	}
	for _, a := range f.Seen().HubAuth {
		if a != "Bearer "+hubtest.Token {
			t.Errorf("hub got Authorization %q", a)
		}
	}
	if f.Seen().CDNGets != 2 {
		t.Errorf("CDN served %d requests, want the 2 shards", f.Seen().CDNGets)
	}
	for _, a := range f.Seen().CDNAuth {
		if a != "" {
			t.Errorf("the CDN got Authorization %q: the token left the hub", a)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Cache.Dir, ".locks", "models--TheBloke--tiny-GPTQ")); err != nil {
		t.Errorf("no lock folder where huggingface_hub keeps it: %v", err)
	}

	// Offline, the cache answers alone.
	if dir, err := c.Cache.Snapshot(ref); err != nil || dir != snap.Dir {
		t.Errorf("Snapshot = %q, %v", dir, err)
	}

	// A second pull downloads nothing and reports everything done.
	gets := f.Seen().CDNGets
	again, err := c.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seen().CDNGets != gets || again.Dir != snap.Dir || last.Done != total {
		t.Errorf("second pull: %d more CDN requests, progress %+v", f.Seen().CDNGets-gets, last)
	}
	for _, fl := range again.Files {
		if fl.Downloaded != 0 || fl.ETag == "" {
			t.Errorf("second pull: %+v", fl)
		}
	}
}

func TestPullBranchSharesBlobs(t *testing.T) {
	f := hubtest.New(t)
	main := hubtest.Model("-1")
	branch := hubtest.Model("32")
	branch["model-00001-of-00002.safetensors"] = main["model-00001-of-00002.safetensors"]
	f.Add("TheBloke/tiny-GPTQ", "main", main)
	commit := f.Add("TheBloke/tiny-GPTQ", "gptq-4bit-32g-actorder_True", branch)
	c := newClient(t, f)
	if _, err := c.Pull(context.Background(), Ref{"TheBloke/tiny-GPTQ", "main"}, nil); err != nil {
		t.Fatal(err)
	}
	gets := f.Seen().CDNGets
	ref, err := ParseRef("TheBloke/tiny-GPTQ:gptq-4bit-32g-actorder_True")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, branch, gptqFiles)
	if f.Seen().CDNGets-gets != 1 {
		t.Errorf("the branch took %d CDN requests; the shard it shares with main is already a blob", f.Seen().CDNGets-gets)
	}
	if got, _ := c.Cache.Snapshot(Ref{"TheBloke/tiny-GPTQ", "main"}); got == snap.Dir {
		t.Error("main and the branch resolve to one snapshot")
	}
}

func TestPullInclude(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	ref := Ref{"org/m", "main"}
	if _, err := c.Pull(context.Background(), ref, []string{"*.json", "*.bin"}); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, []string{"config.json", "model.safetensors.index.json", "pytorch_model.bin",
		"quantize_config.json", "tokenizer_config.json"})
	if _, err := c.Cache.Snapshot(ref); !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "lacks model-0000") {
		t.Errorf("a snapshot without its shards: %v", err)
	}
	_, err := c.Pull(context.Background(), ref, []string{"*.gguf"})
	if err == nil || !strings.Contains(err.Error(), "no file matches *.gguf") || !strings.Contains(err.Error(), "README.md") {
		t.Errorf("no match: %v", err)
	}
	if _, err := c.Pull(context.Background(), ref, []string{"[x"}); err == nil || !strings.Contains(err.Error(), "bad glob") {
		t.Errorf("bad glob: %v", err)
	}
}

func TestPullErrors(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	f.Add("org/gated", "main", hubtest.Model("128"))
	f.Gate("org/gated")
	f.Add("org/holes", "main", hubtest.Model("128"))
	f.Hole("org/holes", "tokenizer.json")
	tests := []struct {
		ref, token string
		is         error
		says       string
	}{
		{"org/none", "", ErrRepoNotFound, "HF_TOKEN"},
		{"org/m:nope", "", ErrRevisionNotFound, `no branch, tag or commit "nope"`},
		{"org/gated", "", ErrGated, "accept its terms"},
		{"org/gated", "hf_wrong", ErrGated, "HF_TOKEN"},
		{"org/holes", "", ErrEntryNotFound, "tokenizer.json"},
	}
	for _, tt := range tests {
		t.Run(tt.ref+tt.token, func(t *testing.T) {
			c := newClient(t, f)
			c.Token = tt.token
			ref, err := ParseRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Pull(context.Background(), ref, nil)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v, want %v saying %q", err, tt.is, tt.says)
			}
		})
	}
	t.Run("gated with a token", func(t *testing.T) {
		c := newClient(t, f)
		c.Token = hubtest.Token
		if _, err := c.Pull(context.Background(), Ref{"org/gated", "main"}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPullCorrupted(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	f.Do(func() { f.Corrupt = true })
	ref := Ref{"org/m", "main"}
	_, err := c.Pull(context.Background(), ref, nil)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v, want a sha256 mismatch", err)
	}
	blobs, _ := os.ReadDir(filepath.Join(c.Cache.RepoDir(ref.Repo), "blobs"))
	for _, b := range blobs {
		if len(b.Name()) == 64 || strings.HasSuffix(b.Name(), ".incomplete") {
			t.Errorf("a corrupted download left blobs/%s", b.Name())
		}
	}
	if _, err := c.Cache.Snapshot(ref); !errors.Is(err, ErrNotCached) {
		t.Errorf("Snapshot after a failed pull: %v", err)
	}
	f.Do(func() { f.Corrupt = false })
	if _, err := c.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, gptqFiles)
}

func TestPullResumes(t *testing.T) {
	const cut = 100_000
	shard := "model-00001-of-00002.safetensors"
	tests := []struct {
		name        string
		ignoreRange bool
		wantRange   string // of the second pull's request for the shard
	}{
		{"range", false, "bytes=100000-"},
		{"server ignores range", true, "bytes=100000-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := hubtest.New(t)
			files := hubtest.Model("128")
			commit := f.Add("org/m", "main", files)
			c := newClient(t, f)
			c.Concurrency = 1
			c.Retries = 0 // the first break ends the pull, as a killed process would
			ref := Ref{"org/m", "main"}
			f.Do(func() { f.Cuts, f.CutAfter = 1, cut })
			if _, err := c.Pull(context.Background(), ref, []string{"*.json", shard}); err == nil {
				t.Fatal("the pull survived a broken connection with no retries")
			}
			incomplete := c.Cache.blobPath(ref.Repo, hubtest.SHA256(files[shard])) + ".incomplete"
			if fi, err := os.Stat(incomplete); err != nil || fi.Size() != cut {
				t.Fatalf("after the break: %v, %v; want %d bytes kept", fi, err, cut)
			}
			if _, err := os.Lstat(filepath.Join(c.Cache.snapshotDir(ref.Repo, commit), shard)); err == nil {
				t.Error("the half-downloaded shard is in the snapshot")
			}

			f.Do(func() { f.IgnoreRange = tt.ignoreRange })
			f.Do(func() { f.Ranges = nil })
			var fileDone []int64
			c.Progress = func(p Progress) {
				if p.File == shard {
					fileDone = append(fileDone, p.FileDone)
				}
			}
			snap, err := c.Pull(context.Background(), ref, []string{"*.json", shard})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Seen().Ranges, []string{tt.wantRange}) {
				t.Errorf("Range headers %q, want %q", f.Seen().Ranges, tt.wantRange)
			}
			want := []string{"config.json", shard, "model.safetensors.index.json", "quantize_config.json", "tokenizer_config.json"}
			checkLayout(t, c, ref, commit, files, want)
			if fileDone[0] != cut || fileDone[len(fileDone)-1] != int64(len(files[shard])) {
				t.Errorf("progress of the shard went %d … %d", fileDone[0], fileDone[len(fileDone)-1])
			}
			for _, fl := range snap.Files {
				// Whether or not the server honours Range, the bytes kept from the
				// first pull are not written again.
				if fl.Path == shard && fl.Downloaded != int64(len(files[shard])-cut) {
					t.Errorf("downloaded %d bytes of the shard, want %d", fl.Downloaded, len(files[shard])-cut)
				}
			}
			if slices.Contains(fileDone, 0) {
				t.Errorf("progress of the shard went back to 0: %d", fileDone)
			}
		})
	}
}

func TestPullRetriesBrokenConnection(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	f.Do(func() { f.Cuts, f.CutAfter = 3, 50_000 }) // three breaks in a row, each after some progress
	ref := Ref{"org/m", "main"}
	if _, err := c.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, gptqFiles)
	if !slices.Contains(f.Seen().Ranges, "bytes=50000-") || !slices.Contains(f.Seen().Ranges, "bytes=100000-") {
		t.Errorf("Range headers %q", f.Seen().Ranges)
	}
}

func TestPullCancelledThenResumed(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	f.Do(func() { f.Stalls, f.StallAfter = 1, 100_000 })
	ctx, cancel := context.WithCancel(context.Background())
	c.Progress = func(p Progress) {
		if p.FileDone > 0 && strings.HasSuffix(p.File, ".safetensors") {
			cancel()
		}
	}
	ref := Ref{"org/m", "main"}
	if _, err := c.Pull(ctx, ref, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	c.Progress = nil
	incomplete := c.Cache.blobPath(ref.Repo, hubtest.SHA256(files["model-00001-of-00002.safetensors"])) + ".incomplete"
	fi, err := os.Stat(incomplete)
	if err != nil || fi.Size() == 0 || fi.Size() > 100_000 {
		t.Fatalf("after the cancel: %v, %v", fi, err)
	}
	f.Do(func() { f.Ranges = nil })
	if _, err := c.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, gptqFiles)
	if want := fmt.Sprintf("bytes=%d-", fi.Size()); len(f.Seen().Ranges) == 0 || f.Seen().Ranges[0] != want {
		t.Errorf("Range headers %q, want %q first", f.Seen().Ranges, want)
	}
}

func TestPullStalled(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	c.StallTimeout = 50 * time.Millisecond
	f.Do(func() { f.Stalls, f.StallAfter = 1, 70_000 })
	ref := Ref{"org/m", "main"}
	if _, err := c.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, gptqFiles)
	if !slices.Contains(f.Seen().Ranges, "bytes=70000-") {
		t.Errorf("Range headers %q: the stalled download did not resume", f.Seen().Ranges)
	}

	c = newClient(t, f)
	c.Retries = 0
	c.StallTimeout = 50 * time.Millisecond
	f.Do(func() { f.Stalls = 1 })
	if _, err := c.Pull(context.Background(), ref, nil); !errors.Is(err, errStalled) {
		t.Errorf("err = %v, want a stall", err)
	}
}

func TestPullDiskSpace(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	c := newClient(t, f)
	c.freeSpace = func(string) (int64, bool) { return 1000, true }
	_, err := c.Pull(context.Background(), Ref{"org/m", "main"}, nil)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "has 1.0 kB free") || !strings.Contains(err.Error(), "HF_HOME") {
		t.Errorf("err = %v", err)
	}
	if f.Seen().CDNGets != 0 {
		t.Errorf("%d downloads began before the space check", f.Seen().CDNGets)
	}
}

func TestPullConcurrency(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	for i := range 6 {
		files["extra-"+string(rune('a'+i))+".safetensors"] = []byte(strings.Repeat(string(rune('a'+i)), 1000))
	}
	f.Add("org/m", "main", files)
	f.Do(func() { f.Delay = 20 * time.Millisecond })
	c := newClient(t, f)
	c.Concurrency = 3
	if _, err := c.Pull(context.Background(), Ref{"org/m", "main"}, nil); err != nil {
		t.Fatal(err)
	}
	if f.Seen().Peak > 3 || f.Seen().Peak < 2 {
		t.Errorf("%d downloads at once, want 2 or 3 with a limit of 3", f.Seen().Peak)
	}
}

func TestPullOffline(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	f.Add("org/m", "main", files)
	c := newClient(t, f)
	ref := Ref{"org/m", "main"}
	c.Offline = true
	if _, err := c.Pull(context.Background(), ref, nil); !errors.Is(err, ErrOffline) || !errors.Is(err, ErrNotCached) {
		t.Errorf("offline with an empty cache: %v", err)
	}
	c.Offline = false
	want, err := c.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Server.Close()
	c.Offline = true
	got, err := c.Pull(context.Background(), ref, nil)
	if err != nil || got.Dir != want.Dir || got.Commit != want.Commit {
		t.Errorf("offline pull = %+v, %v", got, err)
	}
	// A blob gone from under the snapshot makes it incomplete.
	os.Remove(c.Cache.blobPath(ref.Repo, hubtest.SHA256(files["model-00002-of-00002.safetensors"])))
	if _, err := c.Cache.Snapshot(ref); !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "model-00002-of-00002") {
		t.Errorf("Snapshot with a missing blob: %v", err)
	}
}

func TestPullRejectsEscapingPaths(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", map[string][]byte{"../../evil.json": []byte("x"), "config.json": []byte("{}")})
	c := newClient(t, f)
	_, err := c.Pull(context.Background(), Ref{"org/m", "main"}, []string{"*"})
	if err == nil || !strings.Contains(err.Error(), "not a path inside the repository") {
		t.Errorf("err = %v", err)
	}
}

// A hub that ignores Range and cuts every body at the same byte cannot be
// pulled from; the pull ends after Retries tries that bring nothing new, saying
// why, instead of counting the bytes fetched again as progress forever.
func TestPullIgnoresRangeAndCutsShort(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	c.Retries = 3
	f.Do(func() { f.IgnoreRange, f.Cuts, f.CutAfter = true, 1<<30, 100_000 })
	var done []int64
	c.Progress = func(p Progress) {
		if strings.HasSuffix(p.File, ".safetensors") {
			done = append(done, p.FileDone)
		}
	}
	_, err := c.Pull(context.Background(), Ref{"org/m", "main"}, []string{"model-00001-of-00002.safetensors"})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 retries without progress") || !strings.Contains(err.Error(), "ignores Range") {
		t.Fatalf("err = %v, want giving up after 3 retries, naming Range", err)
	}
	// The first try brings 100000 bytes, 3 more bring nothing new.
	if gets := f.Seen().CDNGets; gets != 1+c.Retries {
		t.Errorf("the CDN served %d requests, want %d", gets, 1+c.Retries)
	}
	if slices.Max(done) != 100_000 {
		t.Errorf("progress reached %d, want 100000 (bytes fetched again are not progress)", slices.Max(done))
	}
}

// A hub that ignores Range but gets further each time is pulled whole, each
// byte written once.
func TestPullIgnoresRangeGrowing(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	c.Concurrency = 1
	c.Retries = 1 // each try after a break must bring something new
	shard := "model-00001-of-00002.safetensors"
	f.Do(func() { f.IgnoreRange, f.Cuts, f.CutAfter, f.CutStep = true, 10, 100_000, 100_000 })
	snap, err := c.Pull(context.Background(), Ref{"org/m", "main"}, []string{shard})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, Ref{"org/m", "main"}, commit, files, []string{shard})
	if d := snap.Files[0].Downloaded; d != int64(len(files[shard])) {
		t.Errorf("downloaded %d bytes, want %d", d, len(files[shard]))
	}
}

// An .incomplete file that differs from what a Range-ignoring server sends is cut
// where it differs, and the pull ends with the right content.
func TestPullIgnoresRangeMendsPartial(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	commit := f.Add("org/m", "main", files)
	c := newClient(t, f)
	shard := "model-00001-of-00002.safetensors"
	ref := Ref{"org/m", "main"}
	bad := slices.Clone(files[shard][:150_000])
	bad[120_000] ^= 1
	incomplete := c.Cache.blobPath(ref.Repo, hubtest.SHA256(files[shard])) + ".incomplete"
	if err := os.MkdirAll(filepath.Dir(incomplete), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(incomplete, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	f.Do(func() { f.IgnoreRange = true })
	snap, err := c.Pull(context.Background(), ref, []string{shard})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, ref, commit, files, []string{shard})
	if d := snap.Files[0].Downloaded; d != int64(len(files[shard])-120_000) {
		t.Errorf("downloaded %d bytes, want %d (the agreeing prefix kept)", d, len(files[shard])-120_000)
	}
}

// A server that sends more than the size announced is refused at once, and what
// it sent past the size is not written.
func TestPullBodyLongerThanAnnounced(t *testing.T) {
	f := hubtest.New(t)
	files := hubtest.Model("128")
	f.Add("org/m", "main", files)
	c := newClient(t, f)
	shard := "model-00001-of-00002.safetensors"
	f.Do(func() { f.Pad = 5 << 20 })
	_, err := c.Pull(context.Background(), Ref{"org/m", "main"}, []string{shard})
	if !errors.Is(err, errTooLong) || !strings.Contains(err.Error(), fmt.Sprint(len(files[shard]))) {
		t.Fatalf("err = %v, want errTooLong naming the size", err)
	}
	if gets := f.Seen().CDNGets; gets != 1 {
		t.Errorf("the CDN served %d requests, want 1 (no retry)", gets)
	}
	fi, err := os.Stat(c.Cache.blobPath("org/m", hubtest.SHA256(files[shard])) + ".incomplete")
	if err != nil || fi.Size() > int64(len(files[shard])) {
		t.Errorf("the .incomplete file: %v, %v", fi, err)
	}
}

// A hub that quotes the token back in an error does not get it into ours.
func TestPullErrorHidesToken(t *testing.T) {
	f := hubtest.New(t)
	f.Add("org/m", "main", hubtest.Model("128"))
	f.Gate("org/m")
	f.Do(func() { f.QuoteAuth = true })
	c := newClient(t, f)
	c.Token = "hf_wrong/token+x"
	_, err := c.Pull(context.Background(), Ref{"org/m", "main"}, nil)
	if !errors.Is(err, ErrGated) || strings.Contains(err.Error(), c.Token) || !strings.Contains(err.Error(), "You sent: Bearer REDACTED") {
		t.Errorf("err = %v, want ErrGated with the token masked", err)
	}
}
