package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is the Hugging Face hub; $HF_ENDPOINT or Client.Endpoint
// names a mirror or a private hub speaking the same protocol.
const DefaultEndpoint = "https://huggingface.co"

// Conditions the hub reports in its X-Error-Code header, for errors.Is.
var (
	ErrRepoNotFound     = errors.New("repository not found")
	ErrRevisionNotFound = errors.New("revision not found")
	ErrEntryNotFound    = errors.New("file not found")
	ErrGated            = errors.New("gated repository")
)

// Error is an error answer of the hub: the request, its status and the hub's
// X-Error-Code / X-Error-Message when it sent them.
type Error struct {
	Ref     Ref
	URL     string
	Status  int
	Code    string // X-Error-Code
	Message string // X-Error-Message, or the body's "error"
	kind    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hub: %s: ", e.Ref)
	switch {
	case errors.Is(e.kind, ErrRepoNotFound):
		fmt.Fprintf(&b, "repository %s not found (a private repository needs a token in HF_TOKEN)", e.Ref.Repo)
	case errors.Is(e.kind, ErrRevisionNotFound):
		fmt.Fprintf(&b, "repository %s has no branch, tag or commit %q", e.Ref.Repo, e.Ref.Revision)
	case errors.Is(e.kind, ErrGated):
		fmt.Fprintf(&b, "%s is a gated repository: accept its terms on its page, then set HF_TOKEN to a token of that account", e.Ref.Repo)
	case errors.Is(e.kind, ErrEntryNotFound):
		fmt.Fprintf(&b, "file not found")
	default:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	fmt.Fprintf(&b, " (%s %d", e.URL, e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	b.WriteString(")")
	return b.String()
}

func (e *Error) Unwrap() error { return e.kind }

// Temporary reports whether trying again may help: rate limits, request
// timeouts and server errors (tools.IsTransient reads it).
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// Progress reports a pull's advance. Done and Total count the bytes of every file
// the pull covers, those already in the cache included.
type Progress struct {
	File               string // the file that advanced; "" for the report before any download
	FileDone, FileSize int64
	Done, Total        int64
	Files, FilesDone   int
}

// Client downloads from one hub into one cache. The zero value is not usable:
// take New and change what differs.
type Client struct {
	Endpoint string // without a trailing slash
	Token    string // sent as Authorization: Bearer to the hub, never to the CDN
	Cache    Cache
	// HTTP makes the requests; its redirect policy is replaced by one that drops
	// the Authorization header when a redirect leaves the hub's host.
	HTTP *http.Client
	// Concurrency is how many files download at once.
	Concurrency int
	// Progress, when set, is called as bytes arrive, from one goroutine at a time.
	Progress func(Progress)
	// Offline refuses every request: Pull answers from the cache only
	// ($HF_HUB_OFFLINE).
	Offline bool
	// StallTimeout ends a download attempt that received nothing for this long.
	StallTimeout time.Duration
	// Retries is how many times a download that broke off resumes before the
	// pull fails; each attempt that made progress resets the count.
	Retries int

	retryWait time.Duration                                          // pause before a retry
	freeSpace func(dir string) (int64, bool)                         // bytes free where dir is; false when unknown
	lockFile  func(ctx context.Context, path string) (func(), error) // exclusive lock across processes
	userAgent string
}

// New returns a client configured from the environment as huggingface_hub reads
// it: HF_ENDPOINT, HF_TOKEN (else the token file $HF_TOKEN_PATH or $HF_HOME/token),
// HF_HUB_OFFLINE, and the cache of DefaultCacheDir. getenv is os.Getenv or a
// test's stand-in.
func New(getenv func(string) string) *Client {
	c := &Client{
		Endpoint:     DefaultEndpoint,
		Token:        getenv("HF_TOKEN"),
		Cache:        Cache{Dir: DefaultCacheDir(getenv)},
		HTTP:         &http.Client{Transport: newTransport()},
		Concurrency:  4,
		Offline:      isTrue(getenv("HF_HUB_OFFLINE")),
		StallTimeout: 2 * time.Minute,
		Retries:      5,
		retryWait:    time.Second,
		freeSpace:    freeSpace,
		lockFile:     lockFile,
		userAgent:    "agent/0.1 (+https://github.com/rewoo-agent/agent)",
	}
	if ep := strings.TrimRight(getenv("HF_ENDPOINT"), "/"); ep != "" {
		c.Endpoint = ep
	}
	if c.Token == "" {
		tokenPath := getenv("HF_TOKEN_PATH")
		if tokenPath == "" {
			tokenPath = filepath.Join(hfHome(getenv), "token")
		}
		if data, err := os.ReadFile(expandHome(tokenPath, getenv)); err == nil {
			c.Token = strings.TrimSpace(string(data))
		}
	}
	return c
}

func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// newTransport bounds the waits that have an answer in seconds (connecting,
// headers); a body's own pace is watched by StallTimeout instead of a deadline,
// as a 35 GB file takes hours.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = time.Minute
	return t
}

// httpClient is c.HTTP with the redirect policy of the hub: follow at most 10
// redirects, keep Authorization only while the host stays the one first asked.
func (c *Client) httpClient() *http.Client {
	hc := *c.HTTP
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &hc
}

// newRequest builds a request to the hub with the token and user agent.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// repoPath escapes each part of org/name for a URL path.
func repoPath(repo string) string {
	org, name, _ := strings.Cut(repo, "/")
	return url.PathEscape(org) + "/" + url.PathEscape(name)
}

// fileURL is {endpoint}/{repo}/resolve/{revision}/{path}: the revision escaped
// whole (refs/pr/1 becomes refs%2Fpr%2F1), the path escaped part by part.
func (c *Client) fileURL(repo, revision, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.Endpoint + "/" + repoPath(repo) + "/resolve/" + url.PathEscape(revision) + "/" + strings.Join(parts, "/")
}

// checkResponse turns an error answer into an *Error, reading X-Error-Code the
// way huggingface_hub's hf_raise_for_status does (a 401 without a code counts as
// a missing repository: the hub answers so for private ones).
func checkResponse(ref Ref, resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	e := &Error{Ref: ref, URL: resp.Request.URL.Redacted(), Status: resp.StatusCode,
		Code: resp.Header.Get("X-Error-Code"), Message: resp.Header.Get("X-Error-Message")}
	if e.Message == "" {
		var body struct {
			Error string `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &body) == nil {
			e.Message = body.Error
		}
	}
	switch {
	case e.Code == "RevisionNotFound":
		e.kind = ErrRevisionNotFound
	case e.Code == "EntryNotFound":
		e.kind = ErrEntryNotFound
	case e.Code == "GatedRepo":
		e.kind = ErrGated
	case e.Code == "RepoNotFound", resp.StatusCode == http.StatusUnauthorized && e.Message != "Invalid credentials in Authorization header":
		e.kind = ErrRepoNotFound
	}
	return e
}

// sibling is one file of a repository listing.
type sibling struct {
	Name string `json:"rfilename"`
	Size *int64 `json:"size"`
	LFS  *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

func (s sibling) size() int64 {
	if s.LFS != nil {
		return s.LFS.Size
	}
	if s.Size != nil {
		return *s.Size
	}
	return -1
}

// listing is what {endpoint}/api/models/{repo}/revision/{rev}?blobs=true answers.
type listing struct {
	SHA      string    `json:"sha"`
	Siblings []sibling `json:"siblings"`
}

// list fetches the commit ref.Revision points at and the files there.
func (c *Client) list(ctx context.Context, ref Ref) (*listing, error) {
	u := c.Endpoint + "/api/models/" + repoPath(ref.Repo) + "/revision/" + url.PathEscape(ref.Revision) + "?blobs=true"
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %w", ref, err)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("hub: %s: listing the repository: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := checkResponse(ref, resp); err != nil {
		return nil, err
	}
	l, err := parseListing(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		return nil, fmt.Errorf("hub: %s: the listing of %s: %w", ref, u, err)
	}
	return l, nil
}

// maxListing bounds a listing's JSON: a repository of thousands of files takes
// a few megabytes.
const maxListing = 32 << 20

// parseListing reads a listing and checks what the pull relies on: a 40-digit
// commit, file names that are paths inside the repository, each once, sizes
// that are not negative, and LFS sums that are sha256 digests.
func parseListing(r io.Reader) (*listing, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(data) > maxListing {
		return nil, fmt.Errorf("larger than %d bytes", maxListing)
	}
	var l listing
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	if !isCommit(l.SHA) {
		return nil, fmt.Errorf("commit %q is not a 40-digit id", l.SHA)
	}
	seen := make(map[string]bool, len(l.Siblings))
	for _, s := range l.Siblings {
		switch {
		case !localPath(s.Name):
			return nil, fmt.Errorf("the file name %q is not a path inside the repository", s.Name)
		case seen[s.Name]:
			return nil, fmt.Errorf("the file %q is listed twice", s.Name)
		case s.Size != nil && *s.Size < 0, s.LFS != nil && s.LFS.Size < 0:
			return nil, fmt.Errorf("the file %q has a negative size", s.Name)
		case s.LFS != nil && !(len(s.LFS.SHA256) == 64 && isHex(s.LFS.SHA256)):
			return nil, fmt.Errorf("the file %q has LFS sha256 %q, not 64 hex digits", s.Name, s.LFS.SHA256)
		}
		seen[s.Name] = true
	}
	return &l, nil
}

// meta is what a HEAD of a file's resolve URL tells.
type meta struct {
	Commit string
	ETag   string
	Size   int64
}

// head reads a file's metadata. It follows only relative redirects (a renamed
// repository): a redirect to the CDN carries the metadata itself
// (X-Linked-Etag, X-Linked-Size), and the CDN knows nothing of the hub's headers.
func (c *Client) head(ctx context.Context, ref Ref, u string) (meta, error) {
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for range 10 {
		req, err := c.newRequest(ctx, http.MethodHead, u)
		if err != nil {
			return meta{}, err
		}
		req.Header.Set("Accept-Encoding", "identity") // the size of the file, not of a compressed body
		resp, err := hc.Do(req)
		if err != nil {
			return meta{}, err
		}
		resp.Body.Close()
		if err := checkResponse(ref, resp); err != nil {
			return meta{}, err
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			if target, err := url.Parse(loc); err == nil && target.Host == "" {
				base, _ := url.Parse(u)
				u = base.ResolveReference(target).String()
				continue
			}
		}
		return parseMeta(resp.StatusCode, resp.Header), nil
	}
	return meta{}, fmt.Errorf("hub: %s: more than 10 redirects from %s", ref, u)
}

// parseMeta reads a file's metadata from the headers of a HEAD answer: the
// commit, the etag (X-Linked-Etag, for LFS files behind a redirect, else ETag)
// and the size (X-Linked-Size, else the Content-Length of a non-redirect),
// -1 when unknown.
func parseMeta(status int, h http.Header) meta {
	m := meta{Commit: h.Get("X-Repo-Commit"), ETag: normalizeETag(h.Get("X-Linked-Etag")), Size: -1}
	if m.ETag == "" {
		m.ETag = normalizeETag(h.Get("ETag"))
	}
	size := h.Get("X-Linked-Size")
	if size == "" && (status < 300 || status >= 400) {
		size = h.Get("Content-Length")
	}
	if n, err := strconv.ParseInt(size, 10, 64); err == nil && n >= 0 {
		m.Size = n
	}
	return m
}

// normalizeETag strips the weak marker and the quotes: W/"abc" and "abc" are abc.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}
