package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/internal/human"
	"github.com/rewoo-agent/agent/internal/redact"
)

// DefaultInclude are the files a GPTQ model needs: its configurations, the
// safetensors weights with their index, and the tokenizer. Pickled weights
// (*.bin, *.pt) are left out unless asked for.
var DefaultInclude = []string{
	"config.json",
	"quantize_config.json",
	"generation_config.json",
	"*.safetensors",
	"model.safetensors.index.json",
	"tokenizer.model",
	"tokenizer.json",
	"tokenizer_config.json",
	"special_tokens_map.json",
}

// ErrNoSpace means the cache's disk lacks room for a pull.
var ErrNoSpace = errors.New("not enough free disk space")

// ErrOffline means Client.Offline forbade the network and the cache could not answer.
var ErrOffline = errors.New("offline (HF_HUB_OFFLINE is set)")

// Snapshot is a pulled revision: its folder in the cache and what it holds.
type Snapshot struct {
	Ref    Ref
	Commit string
	Dir    string
	Files  []File
}

// File is one file of a snapshot.
type File struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	ETag       string `json:"etag"`
	Downloaded int64  `json:"downloaded"` // bytes this pull wrote; 0 when the cache had it
}

// Match reports whether the repository path name matches one of the globs
// (path.Match syntax, against the whole path; a glob without '/' also matches
// the base name of a file in a folder).
func Match(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if !strings.Contains(g, "/") && strings.Contains(name, "/") {
			if ok, _ := path.Match(g, path.Base(name)); ok {
				return true
			}
		}
	}
	return false
}

// CheckGlobs reports the first malformed glob.
func CheckGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	return nil
}

// Pull brings the files of ref that match include (DefaultInclude when empty)
// into the cache and returns the snapshot. Files already there are skipped;
// a download that broke off resumes from its .incomplete file; each file
// appears in the snapshot only once it is whole (and, for LFS files, its sha256
// checked). With Offline set, the cache answers alone. The token never appears
// in an error, however a server quotes it back.
func (c *Client) Pull(ctx context.Context, ref Ref, include []string) (*Snapshot, error) {
	snap, err := c.pull(ctx, ref, include)
	return snap, redact.New(c.Token).Error(err)
}

func (c *Client) pull(ctx context.Context, ref Ref, include []string) (*Snapshot, error) {
	if len(include) == 0 {
		include = DefaultInclude
	}
	if err := CheckGlobs(include); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if c.Offline {
		dir, err := c.Cache.Snapshot(ref)
		if err != nil {
			return nil, fmt.Errorf("%w; %w", err, ErrOffline)
		}
		commit, _ := c.Cache.Commit(ref)
		return &Snapshot{Ref: ref, Commit: commit, Dir: dir}, nil
	}
	l, err := c.list(ctx, ref)
	if err != nil {
		return nil, err
	}
	var todo []sibling
	var names []string
	for _, s := range l.Siblings {
		names = append(names, s.Name)
		if Match(include, s.Name) {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("hub: %s: no file matches %s (the repository has %s)", ref, strings.Join(include, " "), strings.Join(names, " "))
	}
	commit := l.SHA
	if err := c.Cache.writeRef(ref, commit); err != nil {
		return nil, fmt.Errorf("hub: %s: %w", ref, err)
	}

	p := &pull{c: c, ref: ref, commit: commit, files: make([]File, len(todo)), fileDone: make([]int64, len(todo))}
	p.report.Files = len(todo)
	var need int64
	have := make([]bool, len(todo))
	for i, s := range todo {
		p.files[i] = File{Path: s.Name, Size: s.size()}
		p.report.Total += max(s.size(), 0)
		if size, etag, ok := c.present(ref.Repo, commit, s); ok {
			have[i] = true
			p.report.Done += size
			p.report.FilesDone++
			p.files[i].ETag = etag
			p.fileDone[i] = size
			continue
		}
		need += max(s.size(), 0) - c.partial(ref.Repo, s)
	}
	if err := c.checkSpace(ref, need); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.reportLocked(-1)
	p.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Concurrency, 1))
	for i, s := range todo {
		if have[i] {
			continue
		}
		g.Go(func() error { return p.fetch(gctx, i, s) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &Snapshot{Ref: ref, Commit: commit, Dir: c.Cache.snapshotDir(ref.Repo, commit), Files: p.files}, nil
}

// present reports whether the snapshot already holds s whole: its pointer
// resolves to a file of the listed size. The etag is the name of the blob it
// links to ("" for a plain file put there by hand).
func (c *Client) present(repo, commit string, s sibling) (int64, string, bool) {
	pointer := filepath.Join(c.Cache.snapshotDir(repo, commit), filepath.FromSlash(s.Name))
	fi, err := os.Stat(pointer)
	if err != nil || !fi.Mode().IsRegular() || (s.size() >= 0 && fi.Size() != s.size()) {
		return 0, "", false
	}
	etag := ""
	if target, err := os.Readlink(pointer); err == nil {
		etag = filepath.Base(target)
	}
	return fi.Size(), etag, true
}

// partial is how much of an LFS file an earlier pull left in its .incomplete
// file (the blob's name is known from the listing only for LFS files).
func (c *Client) partial(repo string, s sibling) int64 {
	if s.LFS == nil || !etagRE.MatchString(s.LFS.SHA256) {
		return 0
	}
	fi, err := os.Stat(c.Cache.blobPath(repo, s.LFS.SHA256) + ".incomplete")
	if err != nil || fi.Size() > s.size() {
		return 0
	}
	return fi.Size()
}

// checkSpace fails before any download when the cache's disk lacks need bytes.
func (c *Client) checkSpace(ref Ref, need int64) error {
	if need <= 0 || c.freeSpace == nil {
		return nil
	}
	dir := c.Cache.RepoDir(ref.Repo)
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		return fmt.Errorf("hub: %s: %w", ref, err)
	}
	free, known := c.freeSpace(dir)
	if known && free < need {
		return fmt.Errorf("hub: %s: %w: the download needs %s and %s has %s free (set HF_HOME or HF_HUB_CACHE to a larger disk)",
			ref, ErrNoSpace, human.Bytes(need), c.Cache.Dir, human.Bytes(free))
	}
	return nil
}

// pull is the state of one Pull shared by its downloads.
type pull struct {
	c      *Client
	ref    Ref
	commit string

	mu       sync.Mutex
	files    []File
	fileDone []int64 // bytes of each file in hand, for the report
	report   Progress
}

// add counts n more bytes of file i (negative when its download starts over;
// fetched false for bytes the cache already had) and reports.
func (p *pull) add(i int, n int64, fetched bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report.Done += n
	if fetched {
		p.files[i].Downloaded += n
	}
	p.fileDone[i] += n
	p.reportLocked(i)
}

// finished marks file i whole.
func (p *pull) finished(i int, etag string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files[i].ETag = etag
	p.report.FilesDone++
	p.reportLocked(i)
}

func (p *pull) reportLocked(i int) {
	if p.c.Progress == nil {
		return
	}
	r := p.report
	if i >= 0 {
		r.File, r.FileDone, r.FileSize = p.files[i].Path, p.fileDone[i], p.files[i].Size
	}
	p.c.Progress(r)
}

// etagRE is what a blob may be named: the hub's etags are git blob ids (40 hex
// digits) or sha256 sums (64); anything that could leave blobs/ is refused.
var etagRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// fetch brings file i (s in the listing) into the cache and links it.
func (p *pull) fetch(ctx context.Context, i int, s sibling) error {
	c, repo := p.c, p.ref.Repo
	u := c.fileURL(repo, p.commit, s.Name)
	m, err := c.head(ctx, p.ref, u)
	if err != nil {
		return fmt.Errorf("hub: %s: %s: %w", p.ref, s.Name, err)
	}
	if !etagRE.MatchString(m.ETag) {
		return fmt.Errorf("hub: %s: %s: the hub gave etag %q, not a usable blob name", p.ref, s.Name, m.ETag)
	}
	if m.Commit != "" && m.Commit != p.commit {
		return fmt.Errorf("hub: %s: %s: asked for commit %s, the hub answered for %s", p.ref, s.Name, p.commit, m.Commit)
	}
	size := m.Size
	switch {
	case size < 0:
		size = s.size()
	case s.size() >= 0 && s.size() != size:
		return fmt.Errorf("hub: %s: %s: the listing gives %d bytes, the file's headers %d", p.ref, s.Name, s.size(), size)
	}
	if size < 0 { // without a size, a download could not know its end
		return fmt.Errorf("hub: %s: %s: the hub gives no size for the file", p.ref, s.Name)
	}
	// An LFS file's content is checked against the sha256 the listing gives
	// (which is also its etag); a plain git file has only its size.
	want := ""
	if s.LFS != nil {
		want = strings.ToLower(s.LFS.SHA256)
	} else if len(m.ETag) == 64 && isHex(m.ETag) {
		want = strings.ToLower(m.ETag)
	}

	blob := c.Cache.blobPath(repo, m.ETag)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	if c.lockFile != nil {
		if err := os.MkdirAll(c.Cache.lockDir(repo), 0o755); err != nil {
			return err
		}
		unlock, err := c.lockFile(ctx, filepath.Join(c.Cache.lockDir(repo), m.ETag+".lock"))
		if err != nil {
			return fmt.Errorf("hub: %s: %s: %w", p.ref, s.Name, err)
		}
		defer unlock()
	}
	if fi, err := os.Stat(blob); err == nil && fi.Size() == size {
		// Another revision or another program brought the blob already.
		p.add(i, fi.Size(), false)
	} else if err := p.download(ctx, i, u, blob, size, want); err != nil {
		return fmt.Errorf("hub: %s: %s: %w", p.ref, s.Name, err)
	}
	if err := c.Cache.link(repo, p.commit, s.Name, m.ETag); err != nil {
		return err
	}
	p.finished(i, m.ETag)
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// download fills blob+".incomplete" from u, resuming what is there, retrying
// breaks, then checks size and sha256 and renames it into place. Only bytes past
// the most the file ever held count as progress: a try that fetched again what
// was there already does not reset the count of retries.
func (p *pull) download(ctx context.Context, i int, u, blob string, size int64, want string) error {
	incomplete := blob + ".incomplete"
	f, err := os.OpenFile(incomplete, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
	}
	h := sha256.New()
	if have > 0 { // the hash covers what an earlier run wrote
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return err
		}
	}
	p.add(i, have, false)

	retries, best, ignoresRange := p.c.Retries, have, false
	for have < size {
		var ignored bool
		have, ignored, err = p.attempt(ctx, i, u, f, h, have, size)
		ignoresRange = ignoresRange || ignored
		if err == nil {
			break
		}
		if ctx.Err() != nil || !retryable(err) {
			return err
		}
		if have > best {
			best, retries = have, p.c.Retries
		}
		if retries--; retries < 0 {
			why := "without progress"
			if ignoresRange {
				why += " (the server ignores Range and ends the body before new bytes)"
			}
			return fmt.Errorf("%w: gave up after %d retries %s; the next pull resumes at byte %d", err, p.c.Retries, why, have)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.c.retryWait):
		}
	}
	if have != size {
		return fmt.Errorf("received %d bytes, the hub announced %d", have, size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); want != "" && sum != want {
		// Nothing of it can be trusted: the next pull starts over.
		f.Close()
		os.Remove(incomplete)
		p.add(i, -have, true)
		return fmt.Errorf("corrupted download: sha256 %s, want %s", sum, want)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(incomplete, blob)
}

// errStalled ends an attempt that received nothing for StallTimeout.
var errStalled = errors.New("the download stalled")

// errTooLong ends a download whose server sends more than the size it announced.
var errTooLong = errors.New("the body is longer than announced")

// retryable says whether another attempt may get further: broken connections,
// stalls, rate limits and server errors; not a missing file, a refusal or a body
// longer than announced.
func retryable(err error) bool {
	var he *Error
	if errors.As(err, &he) {
		return he.Temporary()
	}
	var pe *fs.PathError
	return !errors.As(err, &pe) && !errors.Is(err, errTooLong) // a local file error will not mend itself
}

// attempt GETs u from byte have on (following redirects to the CDN), writing to
// f and h, and returns how many bytes f holds after it and whether the server
// ignored Range. Such a server answers 200 with the file from its start: the
// bytes f holds already are compared as they pass, f is cut where they differ,
// and only what lies past them is written.
func (p *pull) attempt(ctx context.Context, i int, u string, f *os.File, h hash.Hash, have, size int64) (int64, bool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := p.c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return have, false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := p.c.httpClient().Do(req)
	if err != nil {
		return have, false, err
	}
	defer resp.Body.Close()
	if err := checkResponse(p.ref, resp); err != nil {
		return have, false, err
	}
	pos := have // the offset in the file of the body's next byte
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if start, err := rangeStart(resp.Header.Get("Content-Range")); err != nil || start != have {
			return have, false, fmt.Errorf("asked for bytes %d- and got Content-Range %q", have, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		pos = 0
	default:
		return have, false, fmt.Errorf("GET %s: unexpected status %s", resp.Request.URL.Redacted(), resp.Status)
	}
	ignored := have > 0 && pos == 0

	stall := p.c.StallTimeout
	if stall <= 0 {
		stall = 2 * time.Minute
	}
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	buf, old := make([]byte, 1<<20), []byte(nil)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			chunk := buf[:n]
			if pos < have { // bytes f holds: keep them while they agree
				k := min(int64(n), have-pos)
				if old == nil {
					old = make([]byte, len(buf))
				}
				if _, err := f.ReadAt(old[:k], pos); err != nil {
					return have, ignored, err
				}
				if j := mismatch(chunk[:k], old[:k]); j >= 0 {
					if err := cutAt(f, h, pos+int64(j)); err != nil {
						return have, ignored, err
					}
					p.add(i, pos+int64(j)-have, false)
					have, k = pos+int64(j), int64(j)
				}
				chunk, pos = chunk[k:], pos+k
			}
			if len(chunk) > 0 {
				if have+int64(len(chunk)) > size {
					return have, ignored, fmt.Errorf("%w: more than the %d bytes announced", errTooLong, size)
				}
				if _, err := f.WriteAt(chunk, have); err != nil {
					return have, ignored, err
				}
				h.Write(chunk)
				have += int64(len(chunk))
				pos = have
				p.add(i, int64(len(chunk)), true)
			}
		}
		switch {
		case rerr == io.EOF && have < size:
			return have, ignored, fmt.Errorf("the body ended at byte %d of %d", pos, size)
		case rerr == io.EOF:
			return have, ignored, nil
		case rerr == nil:
			continue
		case errors.Is(context.Cause(ctx), errStalled):
			return have, ignored, fmt.Errorf("%w: nothing arrived for %s", errStalled, stall)
		default:
			return have, ignored, rerr
		}
	}
}

// mismatch is the index of the first byte where a and b differ, or -1.
func mismatch(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// cutAt shortens f to n bytes and makes h the hash of what is left.
func cutAt(f *os.File, h hash.Hash, n int64) error {
	if err := f.Truncate(n); err != nil {
		return err
	}
	h.Reset()
	_, err := io.Copy(h, io.NewSectionReader(f, 0, n))
	return err
}

// rangeStart reads the first byte of "bytes START-END/SIZE".
func rangeStart(cr string) (int64, error) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", cr)
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", cr)
	}
	return strconv.ParseInt(first, 10, 64)
}
