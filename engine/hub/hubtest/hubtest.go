// Package hubtest is a Hugging Face–compatible hub for tests: the listing API,
// HEAD and GET of resolve URLs with the hub's headers and error codes, and a
// second server standing for the CDN that LFS files redirect to, which can break
// connections, stall, ignore Range or corrupt what it sends.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hub is the fake hub. Server is the hub, CDN the server LFS files redirect to.
// The exported settings and records may be read and changed between requests,
// inside Do.
type Hub struct {
	Server *httptest.Server
	CDN    *httptest.Server

	Mu    sync.Mutex
	Repos map[string]*fakeRepo
	// What the CDN does: cut the body after CutAfter bytes for the next Cuts
	// requests (CutAfter growing by CutStep after each); send StallAfter bytes
	// and then nothing for the next Stalls requests; ignore Range; flip a byte
	// of what it sends; send Pad bytes more than the file; wait Delay first.
	Cuts, CutAfter     int
	CutStep            int
	Pad                int
	Stalls, StallAfter int
	IgnoreRange        bool
	Corrupt            bool
	// QuoteAuth makes the hub quote the Authorization header it got in its
	// error messages, as careless servers do.
	QuoteAuth bool
	Delay     time.Duration
	// What was seen: the Authorization header of each request to the hub and
	// to the CDN, the CDN's Range headers, how many requests the CDN had and
	// the most it served at once.
	HubAuth, CDNAuth []string
	Ranges           []string
	CDNGets          int
	Peak             int
	inFlight         int
}

// Do runs fn with the hub's settings and records locked.
func (f *Hub) Do(fn func()) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn()
}

// Gate makes repo gated: only a request with Token gets in.
func (f *Hub) Gate(repo string) { f.Do(func() { f.Repos[repo].gated = true }) }

// Hole makes the listing of repo name a file that resolve does not find.
func (f *Hub) Hole(repo, name string) { f.Do(func() { f.Repos[repo].missing = name }) }

type fakeRepo struct {
	branches map[string]string            // branch -> commit
	commits  map[string]map[string][]byte // commit -> path -> content
	gated    bool
	missing  string // a path the listing names but resolve does not find
}

// IsLFS says which files the fake keeps in LFS (redirected to the CDN, etag
// sha256): weights.
func IsLFS(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".bin")
}

// SHA256 is the hex sha256 of b, the etag of an LFS file.
func SHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// GitBlobID is the id git gives a file's content, the etag of a non-LFS file.
func GitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Token is the token a gated repository lets in.
const Token = "hf_secret"

// New starts a hub and its CDN, closed when t ends.
func New(t testing.TB) *Hub {
	f := &Hub{Repos: map[string]*fakeRepo{}}
	f.CDN = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.Server = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(f.CDN.Close)
	t.Cleanup(f.Server.Close)
	return f
}

// Add puts files at a new commit of repo's branch and returns the commit.
func (f *Hub) Add(repo, branch string, files map[string][]byte) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	r := f.Repos[repo]
	if r == nil {
		r = &fakeRepo{branches: map[string]string{}, commits: map[string]map[string][]byte{}}
		f.Repos[repo] = r
	}
	commit := GitBlobID([]byte(repo + branch + strconv.Itoa(len(r.commits))))
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
func (f *Hub) lookup(w http.ResponseWriter, r *http.Request, repo, rev string) (files map[string][]byte, commit string, repoOut *fakeRepo, ok bool) {
	rp := f.Repos[repo]
	if rp == nil {
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository not found")
		return nil, "", nil, false
	}
	if rp.gated && r.Header.Get("Authorization") != "Bearer "+Token {
		msg := "Access to model " + repo + " is restricted."
		if f.QuoteAuth {
			msg += " You sent: " + r.Header.Get("Authorization")
		}
		hubError(w, http.StatusUnauthorized, "GatedRepo", msg)
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

func (f *Hub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.HubAuth = append(f.HubAuth, r.Header.Get("Authorization"))
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
			s := sib{Name: n, Size: len(files[n]), BlobID: GitBlobID(files[n])}
			if IsLFS(n) {
				s.LFS = &lfs{SHA256(files[n]), len(files[n])}
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
	if IsLFS(parts[4]) {
		sum := SHA256(content)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("ETag", `"pointer-etag"`)
		http.Redirect(w, r, f.CDN.URL+"/blobs/"+sum+"?signed=1", http.StatusFound)
		return
	}
	w.Header().Set("ETag", `W/"`+GitBlobID(content)+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	if r.Method == http.MethodGet {
		w.Write(content)
	}
}

func (f *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.CDNAuth = append(f.CDNAuth, r.Header.Get("Authorization"))
	f.Ranges = append(f.Ranges, r.Header.Get("Range"))
	f.CDNGets++
	f.inFlight++
	f.Peak = max(f.Peak, f.inFlight)
	var content []byte
	sum := strings.TrimPrefix(r.URL.Path, "/blobs/")
	for _, rp := range f.Repos {
		for _, files := range rp.commits {
			for _, c := range files {
				if SHA256(c) == sum {
					content = c
				}
			}
		}
	}
	cut := -1
	if f.Cuts > 0 {
		f.Cuts--
		cut = f.CutAfter
		f.CutAfter += f.CutStep
	}
	stall := -1
	if f.Stalls > 0 {
		f.Stalls--
		stall = f.StallAfter
	}
	ignoreRange, corrupt, delay, pad := f.IgnoreRange, f.Corrupt, f.Delay, f.Pad
	f.Mu.Unlock()
	defer func() {
		f.Mu.Lock()
		f.inFlight--
		f.Mu.Unlock()
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
	if pad > 0 {
		content = append(slices.Clone(content), make([]byte, pad)...)
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

// Model is a small GPTQ-like repository: two LFS shards, configs, a tokenizer,
// and files a pull leaves out by default.
func Model(seed string) map[string][]byte {
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

// Record is a copy of what the hub and the CDN saw.
type Record struct {
	HubAuth, CDNAuth, Ranges []string
	CDNGets, Peak            int
}

// Seen returns what was seen so far.
func (f *Hub) Seen() Record {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return Record{slices.Clone(f.HubAuth), slices.Clone(f.CDNAuth), slices.Clone(f.Ranges), f.CDNGets, f.Peak}
}
