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
)

// SearXNG searches through a SearXNG instance's JSON API, which the instance must
// enable (search.formats: [html, json] in its settings.yml).
type SearXNG struct {
	base      string
	userAgent string
	client    *http.Client
}

var _ Backend = (*SearXNG)(nil)

// NewSearXNG returns a backend for the instance at base (e.g.
// "https://searx.example.org"); client nil means one with a 20 s timeout.
func NewSearXNG(base, userAgent string, client *http.Client) *SearXNG {
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	return &SearXNG{base: strings.TrimRight(base, "/"), userAgent: userAgent, client: client}
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
		return nil, tools.Transient(err)
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
	var body struct {
		Results []struct {
			URL     string `json:"url"`
			Title   string `json:"title"`
			Content string `json:"content"`
		} `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&body); err != nil {
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
