package custom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/tools"
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
type httpTool struct {
	base
	spec    *httpSpec
	method  string
	fetcher *scrape.Fetcher
	secrets []string // values, redacted from sources and errors
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
	var secrets []string
	for _, s := range h.Secrets {
		if v := environ[s]; v != "" {
			secrets = append(secrets, v)
		}
	}
	t := &httpTool{base: b, spec: h, method: method, secrets: secrets}
	t.fetcher = scrape.NewFetcher(scrape.Options{
		Timeout:      orDefault(h.Timeout, 30*time.Second),
		MaxBytes:     orDefault(h.MaxBytes, 2<<20),
		MaxRedirects: o.MaxRedirects,
		UserAgent:    o.UserAgent,
		AllowPrivate: o.AllowPrivateNetworks || h.AllowPrivateNetworks,
		ContentTypes: []string{"text/*", "application/json", "application/xml", "application/xhtml+xml", "application/ld+json", "application/problem+json", "application/vnd.api+json"},
		// Checked before a redirect is followed: the request carries the
		// tool's headers, secrets among them. Like net/http with
		// Authorization, headers holding a secret stay on the first host.
		Redirect: func(r *http.Request, via []*http.Request) error {
			if err := t.checkHost(r.URL); err != nil {
				return fmt.Errorf("redirected: %w", err)
			}
			if !strings.EqualFold(r.URL.Host, via[0].URL.Host) {
				for k, vs := range r.Header {
					if slices.ContainsFunc(vs, t.hasSecret) {
						r.Header.Del(k)
					}
				}
			}
			return nil
		},
	})
	return t, nil
}

// Call renders the request, checks its host, sends it and extracts the answer.
func (t *httpTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	out, err := t.call(ctx, req)
	if err != nil {
		return tools.Output{}, redactError(fmt.Errorf("%s: %w", t.name, err), t.secrets)
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
		Sources: []string{redact(page.URL, t.secrets)},
	}, nil
}

// checkHost allows only http(s) URLs to the listed hosts ("*.example.com" matches
// subdomains); with no list, any host (the address guard still applies).
func (t *httpTool) checkHost(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %s: only http and https are allowed", redact(u.Redacted(), t.secrets))
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

func (t *httpTool) extract(p *scrape.Page) (string, error) {
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

// hasSecret reports whether s contains one of the tool's secret values.
func (t *httpTool) hasSecret(s string) bool {
	return slices.ContainsFunc(t.secrets, func(v string) bool { return strings.Contains(s, v) })
}

func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "REDACTED")
		s = strings.ReplaceAll(s, url.QueryEscape(v), "REDACTED")
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// redactError hides secret values in err's message and keeps its chain.
func redactError(err error, secrets []string) error {
	if len(secrets) == 0 {
		return err
	}
	return redactedError{msg: redact(err.Error(), secrets), err: err}
}

func parseURL(s string) (*url.URL, error) { return url.Parse(strings.TrimSpace(s)) }
