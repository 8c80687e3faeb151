package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub imitates the hub's API (listing, HEAD and GET of resolve URLs) with
// a second server standing for the CDN that LFS files redirect to.
type fakeHub struct {
	t   *testing.T
	hub *httptest.Server
	cdn *httptest.Server

	mu    sync.Mutex
	repos map[string]*fakeRepo
	// What the CDN does: cut the body after cutAfter bytes for the next cuts
	// requests, ignore Range, flip a byte of what it sends.
	cuts, cutAfter int
	// stalls requests send stallAfter bytes, then nothing until the client leaves.
	stalls, stallAfter int
	ignoreRange        bool
	corrupt            bool
	// What was seen.
	hubAuth, cdnAuth []string
	ranges           []string
	cdnGets          int
	inFlight, peak   int
	delay            time.Duration
}

type fakeRepo struct {
	branches map[string]string            // branch -> commit
	commits  map[string]map[string][]byte // commit -> path -> content
	gated    bool
	missing  string // a path the listing names but resolve does not find
}

func isLFS(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".bin")
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// gitBlobID is the id git gives a file's content, the etag of a non-LFS file.
func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

const token = "hf_secret"

func newFakeHub(t *testing.T) *fakeHub {
	f := &fakeHub{t: t, repos: map[string]*fakeRepo{}}
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(f.cdn.Close)
	t.Cleanup(f.hub.Close)
	return f
}

// add puts files at a new commit of repo's branch and returns the commit.
func (f *fakeHub) add(repo, branch string, files map[string][]byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repos[repo]
	if r == nil {
		r = &fakeRepo{branches: map[string]string{}, commits: map[string]map[string][]byte{}}
		f.repos[repo] = r
	}
	commit := gitBlobID([]byte(repo + branch + strconv.Itoa(len(r.commits))))
	r.branches[branch] = commit
	r.commits[commit] = files
	return commit
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, `{"error":"`+msg+`"}`, status)
}

// lookup finds repo and revision, answering the hub's errors.
func (f *fakeHub) lookup(w http.ResponseWriter, r *http.Request, repo, rev string) (files map[string][]byte, commit string, repoOut *fakeRepo, ok bool) {
	rp := f.repos[repo]
	if rp == nil {
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository not found")
		return nil, "", nil, false
	}
	if rp.gated && r.Header.Get("Authorization") != "Bearer "+token {
		hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+repo+" is restricted.")
		return nil, "", nil, false
	}
	commit = rev
	if c, isBranch := rp.branches[rev]; isBranch {
		commit = c
	}
	files = rp.commits[commit]
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return nil, "", nil, false
	}
	return files, commit, rp, true
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hubAuth = append(f.hubAuth, r.Header.Get("Authorization"))
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/models/"); ok {
		parts := strings.SplitN(rest, "/", 4) // org, name, "revision", rev
		if len(parts) != 4 || parts[2] != "revision" || r.URL.Query().Get("blobs") != "true" {
			http.NotFound(w, r)
			return
		}
		files, commit, rp, ok := f.lookup(w, r, parts[0]+"/"+parts[1], parts[3])
		if !ok {
			return
		}
		type lfs struct {
			SHA256 string `json:"sha256"`
			Size   int    `json:"size"`
		}
		type sib struct {
			Name   string `json:"rfilename"`
			Size   int    `json:"size"`
			BlobID string `json:"blobId"`
			LFS    *lfs   `json:"lfs,omitempty"`
		}
		l := struct {
			SHA      string `json:"sha"`
			Siblings []sib  `json:"siblings"`
		}{SHA: commit, Siblings: []sib{}}
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range files {
				if !yield(n) {
					return
				}
			}
		})
		if rp.missing != "" {
			names = append(names, rp.missing)
		}
		for _, n := range names {
			s := sib{Name: n, Size: len(files[n]), BlobID: gitBlobID(files[n])}
			if isLFS(n) {
				s.LFS = &lfs{sha256Hex(files[n]), len(files[n])}
				s.Size = 135 // the pointer file's size, as the hub gives it
			}
			l.Siblings = append(l.Siblings, s)
		}
		json.NewEncoder(w).Encode(l)
		return
	}
	// /{org}/{name}/resolve/{rev}/{path}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	files, commit, _, ok := f.lookup(w, r, parts[0]+"/"+parts[1], parts[3])
	if !ok {
		return
	}
	content, found := files[parts[4]]
	if !found {
		hubError(w, http.StatusNotFound, "EntryNotFound", parts[4]+" does not exist on "+parts[3])
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if isLFS(parts[4]) {
		sum := sha256Hex(content)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("ETag", `"pointer-etag"`)
		http.Redirect(w, r, f.cdn.URL+"/blobs/"+sum+"?signed=1", http.StatusFound)
		return
	}
	w.Header().Set("ETag", `W/"`+gitBlobID(content)+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	if r.Method == http.MethodGet {
		w.Write(content)
	}
}

func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.cdnAuth = append(f.cdnAuth, r.Header.Get("Authorization"))
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	f.cdnGets++
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	var content []byte
	sum := strings.TrimPrefix(r.URL.Path, "/blobs/")
	for _, rp := range f.repos {
		for _, files := range rp.commits {
			for _, c := range files {
				if sha256Hex(c) == sum {
					content = c
				}
			}
		}
	}
	cut := -1
	if f.cuts > 0 {
		f.cuts--
		cut = f.cutAfter
	}
	stall := -1
	if f.stalls > 0 {
		f.stalls--
		stall = f.stallAfter
	}
	ignoreRange, corrupt, delay := f.ignoreRange, f.corrupt, f.delay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(delay)
	if content == nil || r.URL.Query().Get("signed") != "1" {
		http.NotFound(w, r)
		return
	}
	if corrupt {
		content = slices.Clone(content)
		content[len(content)/2] ^= 0xff
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !ignoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n >= len(content) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(content)-1, len(content)))
		w.Header().Set("Content-Length", strconv.Itoa(len(content)-n))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	}
	body := content[start:]
	if cut >= 0 && cut < len(body) {
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	if stall >= 0 && stall < len(body) {
		w.Write(body[:stall])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	w.Write(body)
}

// client is a Client for the fake hub with its cache in a temporary folder.
func (f *fakeHub) client(t *testing.T) *Client {
	c := New(func(k string) string {
		switch k {
		case "HF_HOME":
			return filepath.Join(t.TempDir(), "hf")
		case "HF_ENDPOINT":
			return f.hub.URL + "/"
		}
		return ""
	})
	c.retryWait = time.Millisecond
	return c
}

// model is a small GPTQ-like repository: two LFS shards, configs, a tokenizer,
// and files a pull leaves out by default.
func model(seed string) map[string][]byte {
	shard := func(n int) []byte {
		b := make([]byte, 300_000+n)
		for i := range b {
			b[i] = byte(i*7 + n + int(seed[len(seed)-1]))
		}
		return b
	}
	return map[string][]byte{
		"config.json":                      []byte(`{"model_type":"llama"}`),
		"quantize_config.json":             []byte(`{"bits":4,"group_size":` + seed + `}`),
		"model-00001-of-00002.safetensors": shard(1),
		"model-00002-of-00002.safetensors": shard(2),
		"model.safetensors.index.json":     []byte(`{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`),
		"tokenizer.model":                  []byte("sentencepiece"),
		"tokenizer_config.json":            []byte(`{}`),
		"README.md":                        []byte("# model card"),
		"pytorch_model.bin":                []byte("pickled weights"),
	}
}
