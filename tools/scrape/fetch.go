package scrape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/temoto/robotstxt"
	"golang.org/x/net/html/charset"
	"golang.org/x/time/rate"

	"github.com/rewoo-agent/agent/tools"
)

// Options configure a Fetcher. Zero values take the defaults named.
type Options struct {
	Timeout      time.Duration // a whole fetch: connect, redirects, body (20s)
	MaxBytes     int64         // body bytes kept; the rest is dropped (2 MiB)
	MaxRedirects int           // redirects followed (5)
	UserAgent    string        // sent with every request (DefaultUserAgent)
	PerHostRate  float64       // requests per second to one host; 0 means no limit
	PerHostBurst int           // requests to one host allowed at once (1)
	Robots       bool          // obey robots.txt
	// AllowPrivate lets requests reach loopback, private, link-local and other
	// non-public addresses. Plans choose URLs, so keep it off unless every
	// address the process can reach is fine to show the model.
	AllowPrivate bool
	// ContentTypes are the media types accepted (HTMLTypes by default).
	ContentTypes []string
	// Redirect, if set, is asked before each redirect is followed; an error
	// stops the fetch there, before anything is sent to the new URL.
	Redirect func(req *http.Request, via []*http.Request) error
}

// DefaultUserAgent names the agent honestly, with where to read about it.
const DefaultUserAgent = "agent/0.1 (reWOO research agent; +https://github.com/rewoo-agent/agent)"

// HTMLTypes are the media types of pages with readable text.
var HTMLTypes = []string{"text/html", "application/xhtml+xml", "text/plain"}

// Errors callers may branch on.
var (
	ErrContentType = errors.New("unsupported content type")
	ErrRobots      = errors.New("disallowed by robots.txt")
	ErrStatus      = errors.New("HTTP error status")
)

// Fetcher gets pages safely: bounded in time and size, at a polite rate per host,
// never into private networks unless allowed. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	robots   map[string]*robotstxt.RobotsData
}

// NewFetcher returns a Fetcher with o's settings.
func NewFetcher(o Options) *Fetcher {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 2 << 20
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 5
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.PerHostBurst <= 0 {
		o.PerHostBurst = 1
	}
	if len(o.ContentTypes) == 0 {
		o.ContentTypes = HTMLTypes
	}
	client := NewClient(o.Timeout, o.MaxRedirects, o.AllowPrivate)
	if o.Redirect != nil {
		check := client.CheckRedirect
		client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if err := check(req, via); err != nil {
				return err
			}
			return o.Redirect(req, via)
		}
	}
	return &Fetcher{
		opts:     o,
		client:   client,
		limiters: map[string]*rate.Limiter{},
		robots:   map[string]*robotstxt.RobotsData{},
	}
}

// NewClient returns an HTTP client that follows at most maxRedirects redirects, only
// to http and https URLs, uses no proxy, and (unless allowPrivate) refuses to connect
// to non-public addresses, checked after DNS resolution.
func NewClient(timeout time.Duration, maxRedirects int, allowPrivate bool) *http.Client {
	if allowPrivate {
		return newClient(timeout, maxRedirects, nil)
	}
	return newClient(timeout, maxRedirects, control)
}

func newClient(timeout time.Duration, maxRedirects int, ctl func(network, address string, c syscall.RawConn) error) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second, Control: ctl}
	tr := &http.Transport{
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s: only http and https are allowed", req.URL.Redacted())
			}
			return nil
		},
	}
}

// Page is a fetched document.
type Page struct {
	URL         string // after redirects
	Status      int
	ContentType string // media type, without parameters
	Text        string // the body as UTF-8
	Truncated   bool   // the body was longer than MaxBytes
}

// IsHTML reports whether the page is HTML or XHTML.
func (p *Page) IsHTML() bool {
	return p.ContentType == "text/html" || p.ContentType == "application/xhtml+xml"
}

// Fetch GETs rawURL.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	return f.Do(req)
}

// Do sends req under the fetcher's limits and returns the decoded page. Errors name
// the URL; timeouts, 429 and 5xx responses are Transient.
func (f *Fetcher) Do(req *http.Request) (*Page, error) {
	page, err := f.do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", req.URL.Redacted(), err)
	}
	return page, nil
}

func (f *Fetcher) do(req *http.Request) (*Page, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("only http and https URLs can be fetched")
	}
	if req.URL.Host == "" {
		return nil, fmt.Errorf("no host in URL")
	}
	ctx, cancel := context.WithTimeout(req.Context(), f.opts.Timeout)
	defer cancel()
	req = req.WithContext(ctx)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", f.opts.UserAgent)
	}
	if err := f.wait(ctx, req.URL.Host); err != nil {
		return nil, timeoutError(err, f.opts.Timeout)
	}
	if f.opts.Robots {
		if err := f.checkRobots(ctx, req.URL); err != nil {
			return nil, err
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, timeoutError(err, f.opts.Timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		err := fmt.Errorf("%w %s", ErrStatus, resp.Status)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			err = tools.Transient(err)
		}
		return nil, err
	}
	body, truncated, err := readCapped(resp.Body, f.opts.MaxBytes)
	if err != nil {
		return nil, timeoutError(fmt.Errorf("reading body: %w", err), f.opts.Timeout)
	}
	header := resp.Header.Get("Content-Type")
	media, _, _ := mime.ParseMediaType(header)
	if media == "" || media == "application/octet-stream" {
		media, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	if !accepted(media, f.opts.ContentTypes) {
		if media == "" {
			media = "unknown"
		}
		return nil, fmt.Errorf("%w %s", ErrContentType, media)
	}
	return &Page{
		URL:         resp.Request.URL.String(),
		Status:      resp.StatusCode,
		ContentType: media,
		Text:        decode(body, header, media),
		Truncated:   truncated,
	}, nil
}

func accepted(media string, types []string) bool {
	for _, t := range types {
		if media == t || strings.HasSuffix(t, "/*") && strings.HasPrefix(media, strings.TrimSuffix(t, "*")) {
			return true
		}
	}
	return false
}

// readCapped reads r up to max bytes and reports whether there was more.
func readCapped(r io.Reader, max int64) ([]byte, bool, error) {
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > max {
		return body[:max], true, nil
	}
	return body, false, nil
}

// decode converts body to UTF-8: the header's charset, a BOM, an HTML meta tag, else
// UTF-8 if valid, else windows-1252 (the WHATWG rule). JSON is UTF-8 by definition.
func decode(body []byte, header, media string) string {
	if strings.Contains(media, "json") && !strings.Contains(strings.ToLower(header), "charset") {
		return strings.ToValidUTF8(string(body), "\uFFFD")
	}
	enc, _, _ := charset.DetermineEncoding(body, header)
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		out = body
	}
	out = bytes.TrimPrefix(out, []byte("\uFEFF"))
	if !utf8.Valid(out) {
		return strings.ToValidUTF8(string(out), "\uFFFD")
	}
	return string(out)
}

// timeoutError names a deadline as a timeout, and marks it and other network
// failures as worth retrying; refusals of forbidden addresses are not.
func timeoutError(err error, limit time.Duration) error {
	if errors.Is(err, ErrForbiddenAddress) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return tools.Transient(fmt.Errorf("timed out after %s: %w", limit, err))
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return tools.Transient(err)
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// wait blocks until host's rate limit allows another request.
func (f *Fetcher) wait(ctx context.Context, host string) error {
	if f.opts.PerHostRate <= 0 {
		return nil
	}
	f.mu.Lock()
	l, ok := f.limiters[host]
	if !ok {
		l = rate.NewLimiter(rate.Limit(f.opts.PerHostRate), f.opts.PerHostBurst)
		f.limiters[host] = l
	}
	f.mu.Unlock()
	return l.Wait(ctx)
}

// checkRobots fetches (once per site) and applies robots.txt. A robots.txt that
// cannot be fetched allows everything; one that fails with 5xx allows nothing (the
// robotstxt package's reading of the standard).
func (f *Fetcher) checkRobots(ctx context.Context, u *url.URL) error {
	site := u.Scheme + "://" + u.Host
	f.mu.Lock()
	data, ok := f.robots[site]
	f.mu.Unlock()
	if !ok {
		data = f.fetchRobots(ctx, site)
		f.mu.Lock()
		f.robots[site] = data
		f.mu.Unlock()
	}
	if data == nil {
		return nil
	}
	agent, _, _ := strings.Cut(f.opts.UserAgent, "/")
	if !data.TestAgent(u.EscapedPath(), agent) {
		return ErrRobots
	}
	return nil
}

func (f *Fetcher) fetchRobots(ctx context.Context, site string) *robotstxt.RobotsData {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, site+"/robots.txt", nil)
	if err != nil {
		return nil
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _, err := readCapped(resp.Body, 512<<10)
	if err != nil {
		return nil
	}
	data, err := robotstxt.FromStatusAndBytes(resp.StatusCode, body)
	if err != nil {
		return nil
	}
	return data
}
