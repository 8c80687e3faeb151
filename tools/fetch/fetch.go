// Package fetch is the guarded HTTP every web tool uses (TextScraper, the search
// clients, http custom tools): per-request timeouts, a redirect cap with the
// scheme re-checked, a body cap, accepted content types, charset decoding, a
// per-host rate limit, an honest User-Agent, robots.txt by option, and refusal of
// every address outside the public internet (the IANA special-purpose registries,
// see guard.go) after DNS resolution, on the address actually dialled, for the
// first request and every redirect alike. A configured endpoint (a SearXNG on
// localhost) may be exempted by name; nothing it redirects to is.
package fetch

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
	// Endpoints are URLs configured by the user, not chosen by a plan, whose
	// host and port are dialled without the address guard (a SearXNG on
	// localhost). Only that exact host:port is exempt: a redirect elsewhere, to
	// another name of the same machine included, meets the guard.
	Endpoints []string
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

// New returns a Fetcher with o's settings.
func New(o Options) *Fetcher {
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
	client := NewClient(ClientOptions{Timeout: o.Timeout, MaxRedirects: o.MaxRedirects,
		AllowPrivate: o.AllowPrivate, Endpoints: o.Endpoints, Redirect: o.Redirect})
	return &Fetcher{
		opts:     o,
		client:   client,
		limiters: map[string]*rate.Limiter{},
		robots:   map[string]*robotstxt.RobotsData{},
	}
}

// ClientOptions configure NewClient; zero values take the defaults named.
type ClientOptions struct {
	Timeout      time.Duration // a whole request, body included (20s)
	MaxRedirects int           // redirects followed (5)
	AllowPrivate bool          // no address guard at all (see Options.AllowPrivate)
	Endpoints    []string      // URLs whose host:port is dialled unguarded (see Options.Endpoints)
	// Redirect, if set, is asked before each redirect is followed, after the
	// cap and the scheme are checked.
	Redirect func(req *http.Request, via []*http.Request) error
}

// NewClient returns an HTTP client for the web tools that build their own
// requests (the search clients): it follows at most MaxRedirects redirects, only
// to http and https URLs, uses no proxy, and (unless AllowPrivate) refuses to
// connect to addresses outside the public internet, checked after DNS
// resolution, except the host:port of each of Endpoints.
func NewClient(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 5
	}
	guarded := &net.Dialer{Timeout: min(o.Timeout, 10*time.Second), KeepAlive: 30 * time.Second, Control: control}
	plain := &net.Dialer{Timeout: guarded.Timeout, KeepAlive: guarded.KeepAlive}
	exempt := map[string]bool{}
	for _, e := range o.Endpoints {
		if hp, err := HostPort(e); err == nil {
			exempt[hp] = true
		}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if o.AllowPrivate || exempt[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", o.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s: only http and https are allowed", req.URL.Redacted())
			}
			if o.Redirect != nil {
				return o.Redirect(req, via)
			}
			return nil
		},
	}
}

// HostPort is the address net/http dials for rawURL: the host, lower-case, and
// the port, the scheme's default when the URL names none ("localhost:8888",
// "[::1]:443").
func HostPort(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("no host in URL %s", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return "", fmt.Errorf("URL %s: only http and https are allowed", u.Redacted())
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

// Page is a fetched document.
type Page struct {
	URL         string // after redirects, a password in it masked (url.URL.Redacted)
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
		URL:         resp.Request.URL.Redacted(),
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
