package search

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
)

// SearXNG searches through a SearXNG instance's JSON API, which the instance must
// enable (search.formats: [html, json] in its settings.yml).
type SearXNG struct {
	base      string
	userAgent string
	client    *http.Client
}

var _ Backend = (*SearXNG)(nil)

// SearXNGOptions configure NewSearXNG; zero values take the defaults named.
type SearXNGOptions struct {
	URL          string        // the instance, e.g. "https://searx.example.org"
	UserAgent    string        // sent with each request
	Timeout      time.Duration // a whole search (20 s)
	MaxRedirects int           // redirects followed (5)
	// AllowPrivateNetworks lets redirects reach non-public addresses. The
	// instance itself may be local whatever this says: its URL is the user's.
	AllowPrivateNetworks bool
	// Client replaces the guarded client the fields above make (for tests).
	Client *http.Client
}

// NewSearXNG returns a backend for the instance at o.URL.
func NewSearXNG(o SearXNGOptions) *SearXNG {
	base := strings.TrimRight(o.URL, "/")
	if o.Client == nil {
		o.Client = fetch.NewClient(fetch.ClientOptions{Timeout: o.Timeout, MaxRedirects: o.MaxRedirects,
			AllowPrivate: o.AllowPrivateNetworks, Endpoints: []string{base}})
	}
	return &SearXNG{base: base, userAgent: o.UserAgent, client: o.Client}
}

func (*SearXNG) Engine() string { return "SearXNG" }

// Search GETs {base}/search?q=...&format=json.
func (s *SearXNG) Search(ctx context.Context, query string) ([]Result, error) {
	u := s.base + "/search?" + url.Values{"q": {query}, "format": {"json"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("HTTP %s: the instance does not allow the JSON format (add json to search.formats in its settings.yml)", resp.Status)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, tools.Transient(fmt.Errorf("HTTP %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return ParseSearXNG(io.LimitReader(resp.Body, 8<<20))
}

// ParseSearXNG reads the JSON a SearXNG instance answers (format=json): its
// results in order. A body without results is ErrNoResults; one that is not
// the API's JSON is an error.
func ParseSearXNG(r io.Reader) ([]Result, error) {
	var body struct {
		Results []struct {
			URL     string `json:"url"`
			Title   string `json:"title"`
			Content string `json:"content"`
		} `json:"results"`
	}
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, fmt.Errorf("reading SearXNG's JSON: %w", err)
	}
	results := make([]Result, 0, len(body.Results))
	for _, r := range body.Results {
		results = append(results, Result{Title: r.Title, URL: r.URL, Snippet: r.Content})
	}
	if len(results) == 0 {
		return nil, ErrNoResults
	}
	return results, nil
}
