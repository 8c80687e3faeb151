package custom

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/redact"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/scrape"
)

type httpSpec struct {
	Method               string           `yaml:"method"`
	URL                  *tmpl            `yaml:"url"`
	Headers              map[string]*tmpl `yaml:"headers"`
	Body                 *tmpl            `yaml:"body"`
	Extract              *extractSpec     `yaml:"extract"`
	AllowedHosts         []string         `yaml:"allowed_hosts"`
	Secrets              []string         `yaml:"secrets"`
	Timeout              time.Duration    `yaml:"timeout"`
	MaxBytes             int64            `yaml:"max_bytes"`
	MaxChars             int              `yaml:"max_chars"`
	AllowPrivateNetworks bool             `yaml:"allow_private_networks"`
}

type extractSpec struct {
	JSON string `yaml:"json"` // a gjson path, e.g. "results.#.title"
	CSS  string `yaml:"css"`  // a CSS selector
	Attr string `yaml:"attr"` // with css: take this attribute instead of the text
}

// httpTool calls an HTTP API or page with a templated request.
//
// Its secrets (environment variables a template reads with env) reach only the
// hosts of allowed_hosts, which a tool with secrets must list: a plan choosing
// the URL can pick among those hosts and no other, and a redirect elsewhere is
// refused before it is followed. A redirect to another origin (scheme, host or
// port differing from the request's) drops the headers holding a secret, as
// net/http does with Authorization, and a 307 or 308 redirect to another origin
// that would send the body again is refused when the body holds a secret, even
// between allowed hosts: the secret was meant for the origin the tool named.
// Secrets are masked in every shape they take (internal/redact) in the tool's
// output, sources and errors.
type httpTool struct {
	base
	spec    *httpSpec
	method  string
	fetcher *fetch.Fetcher
	secrets *redact.Redactor // the secrets' values
}

var _ tools.Tool = (*httpTool)(nil)

func (h *httpSpec) build(b base, file string, node *yaml.Node, o Options) (tools.Tool, error) {
	if h.URL == nil {
		return nil, configs.NodeError(file, node, "tool %s: http needs a url", b.name)
	}
	environ := environMap(o.Environ)
	name := b.name + ".http."
	if err := h.URL.parse(file, name+"url", h.Secrets, environ); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(h.Headers))
	for k := range h.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := h.Headers[k].parse(file, name+"headers."+k, h.Secrets, environ); err != nil {
			return nil, err
		}
	}
	method := strings.ToUpper(h.Method)
	if h.Body != nil {
		if err := h.Body.parse(file, name+"body", h.Secrets, environ); err != nil {
			return nil, err
		}
		if method == "" {
			method = http.MethodPost
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead:
	default:
		return nil, configs.NodeError(file, child(node, "method"), "tool %s: unknown HTTP method %q", b.name, h.Method)
	}
	if e := h.Extract; e != nil {
		if (e.JSON == "") == (e.CSS == "") {
			return nil, configs.NodeError(file, child(node, "extract"), "tool %s: extract needs exactly one of json or css", b.name)
		}
		if e.Attr != "" && e.CSS == "" {
			return nil, configs.NodeError(file, child(node, "extract"), "tool %s: extract.attr goes with css", b.name)
		}
		if e.CSS != "" {
			if _, err := cascadia.ParseGroup(e.CSS); err != nil {
				return nil, configs.NodeError(file, child(child(node, "extract"), "css"), "tool %s: css selector %q: %v", b.name, e.CSS, err)
			}
		}
	}
	for _, host := range h.AllowedHosts {
		// An entry with a scheme, a port or a path would never match a host
		// name, leaving the tool unusable without a word.
		name := strings.TrimPrefix(host, "*.")
		if _, err := netip.ParseAddr(name); err != nil && (name == "" || strings.ContainsAny(name, ":/?#@[]* ")) {
			return nil, configs.NodeError(file, child(node, "allowed_hosts"), "tool %s: allowed_hosts entry %q: want a host name, an IP address or *.domain, without scheme, port or path", b.name, host)
		}
	}
	if len(h.Secrets) > 0 && len(h.AllowedHosts) == 0 {
		return nil, configs.NodeError(file, child(node, "secrets"), "tool %s: secrets need allowed_hosts, the hosts they may be sent to", b.name)
	}
	var values []string
	for _, s := range h.Secrets {
		values = append(values, environ[s])
	}
	t := &httpTool{base: b, spec: h, method: method, secrets: redact.New(values...)}
	t.fetcher = fetch.New(fetch.Options{
		Timeout:      orDefault(h.Timeout, 30*time.Second),
		MaxBytes:     orDefault(h.MaxBytes, 2<<20),
		MaxRedirects: o.MaxRedirects,
		UserAgent:    o.UserAgent,
		AllowPrivate: o.AllowPrivateNetworks || h.AllowPrivateNetworks,
		ContentTypes: []string{"text/*", "application/json", "application/xml", "application/xhtml+xml", "application/ld+json", "application/problem+json", "application/vnd.api+json"},
		// Checked before a redirect is followed, on the request that would
		// be sent: it carries the tool's headers and maybe its body again.
		Redirect: t.checkRedirect,
	})
	return t, nil
}

// checkRedirect keeps the tool's secrets with the origin they were sent to.
func (t *httpTool) checkRedirect(r *http.Request, via []*http.Request) error {
	if err := t.checkHost(r.URL); err != nil {
		return fmt.Errorf("redirected: %w", err)
	}
	first := via[0].URL
	if strings.EqualFold(r.URL.Scheme, first.Scheme) && strings.EqualFold(r.URL.Host, first.Host) {
		return nil
	}
	if r.Response != nil && (r.Response.StatusCode == http.StatusTemporaryRedirect || r.Response.StatusCode == http.StatusPermanentRedirect) &&
		r.GetBody != nil && t.bodyHasSecret(r) {
		return fmt.Errorf("redirected with %d to %s: refused, it would send the request body, which holds a secret, to another origin than %s",
			r.Response.StatusCode, r.URL.Redacted(), first.Scheme+"://"+first.Host)
	}
	for k, vs := range r.Header {
		if slices.ContainsFunc(vs, t.secrets.Contains) {
			r.Header.Del(k)
		}
	}
	return nil
}

// bodyHasSecret reports whether the body r would send holds a secret.
func (t *httpTool) bodyHasSecret(r *http.Request) bool {
	body, err := r.GetBody()
	if err != nil {
		return true // unknown: assume the worst
	}
	defer body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, body); err != nil {
		return true
	}
	return t.secrets.Contains(b.String())
}

// Call renders the request, checks its host, sends it and extracts the answer.
// Secrets are masked in what it returns.
func (t *httpTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	out, err := t.call(ctx, req)
	if err != nil {
		return tools.Output{}, t.secrets.Error(fmt.Errorf("%s: %w", t.name, err))
	}
	out.Text = t.secrets.String(out.Text)
	for i, s := range out.Sources {
		out.Sources[i] = t.secrets.String(s)
	}
	return out, nil
}

func (t *httpTool) call(ctx context.Context, req tools.Request) (tools.Output, error) {
	raw, err := t.spec.URL.render(req)
	if err != nil {
		return tools.Output{}, err
	}
	u, err := parseURL(raw)
	if err != nil {
		return tools.Output{}, fmt.Errorf("url: %w", err)
	}
	if err := t.checkHost(u); err != nil {
		return tools.Output{}, err
	}
	var body string
	if t.spec.Body != nil {
		if body, err = t.spec.Body.render(req); err != nil {
			return tools.Output{}, err
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, t.method, u.String(), strings.NewReader(body))
	if err != nil {
		return tools.Output{}, err
	}
	for k, v := range t.spec.Headers {
		s, err := v.render(req)
		if err != nil {
			return tools.Output{}, err
		}
		hreq.Header.Set(k, s)
	}
	if key := tools.IdempotencyKey(ctx); key != "" {
		hreq.Header.Set("Idempotency-Key", key) // the receiver does a repeated call once
	}
	page, err := t.fetcher.Do(hreq)
	if err != nil {
		return tools.Output{}, err
	}
	text, err := t.extract(page)
	if err != nil {
		return tools.Output{}, err
	}
	return tools.Output{
		Text:    scrape.Cut(text, orDefault(t.spec.MaxChars, 12000)),
		Sources: []string{page.URL},
	}, nil
}

// checkHost allows only http(s) URLs to the listed hosts ("*.example.com" matches
// subdomains), on any port; with no list (a tool without secrets), any host (the
// address guard still applies).
func (t *httpTool) checkHost(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %s: only http and https are allowed", u.Redacted())
	}
	if len(t.spec.AllowedHosts) == 0 {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range t.spec.AllowedHosts {
		h = strings.ToLower(h)
		if host == h || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not in allowed_hosts", host)
}

func (t *httpTool) extract(p *fetch.Page) (string, error) {
	e := t.spec.Extract
	switch {
	case e == nil && p.IsHTML():
		_, text := scrape.Readable(p)
		return text, nil
	case e == nil:
		return strings.TrimSpace(p.Text), nil
	case e.JSON != "":
		if !gjson.Valid(p.Text) {
			return "", fmt.Errorf("the response is not JSON (%s)", p.ContentType)
		}
		r := gjson.Get(p.Text, e.JSON)
		if !r.Exists() {
			return "", fmt.Errorf("json path %q matched nothing", e.JSON)
		}
		if r.IsArray() {
			var parts []string
			for _, x := range r.Array() {
				parts = append(parts, x.String())
			}
			return strings.Join(parts, "\n"), nil
		}
		return r.String(), nil
	default:
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.Text))
		if err != nil {
			return "", err
		}
		var parts []string
		doc.Find(e.CSS).Each(func(_ int, s *goquery.Selection) {
			v := strings.Join(strings.Fields(s.Text()), " ")
			if e.Attr != "" {
				v, _ = s.Attr(e.Attr)
			}
			if v != "" {
				parts = append(parts, v)
			}
		})
		if len(parts) == 0 {
			return "", fmt.Errorf("css selector %q matched nothing", e.CSS)
		}
		return strings.Join(parts, "\n"), nil
	}
}

func parseURL(s string) (*url.URL, error) { return url.Parse(strings.TrimSpace(s)) }
