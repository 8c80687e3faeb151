// Package search is the web search tool: one Tool over interchangeable backends,
// DuckDuckGo's no-JavaScript HTML endpoint (keyless, the default) and a SearXNG
// instance's JSON API. Results are numbered with title, URL and snippet, and their
// URLs are the evidence's sources. Both talk through package fetch's guarded
// client: the configured endpoint may be local, but a redirect from it to an
// address outside the public internet is refused.
package search

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/links"
)

// Result is one search hit.
type Result struct {
	Title   string
	URL     string
	Snippet string
}

// Backend runs a query against one search engine.
type Backend interface {
	// Search returns the engine's results for query, best first.
	Search(ctx context.Context, query string) ([]Result, error)
	// Engine names the search engine, e.g. "DuckDuckGo".
	Engine() string
}

// Errors callers may branch on.
var (
	// ErrBlocked means the engine refused the request as automated (a CAPTCHA or
	// anomaly page): not the same as finding nothing.
	// ErrBlocked wraps tools.ErrBlocked, so the planner and the reports
	// name the block as such.
	ErrBlocked   = fmt.Errorf("search engine %w the request", tools.ErrBlocked)
	ErrNoResults = errors.New("no results")
)

// Description is what the planner shows the model, as in the seed model's training.
const Description = "Tool that allows the user to search for information using the DuckDuckGo search engine. It finds a list of sites that may include the answer to the user's question."

// Tool is the web search tool. Its name stays DuckDuckGo whatever the backend,
// because that is the name the model was trained to call.
type Tool struct {
	Backend    Backend
	MaxResults int // results shown at most (8)
}

var _ tools.Tool = (*Tool)(nil)

func (*Tool) Name() string        { return "DuckDuckGo" }
func (*Tool) Description() string { return Description }

// Call searches for req.Input.
func (t *Tool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	q := strings.Join(strings.Fields(req.Input), " ")
	if q == "" {
		return tools.Output{}, errors.New("empty search query")
	}
	results, err := t.Backend.Search(ctx, q)
	if err != nil {
		return tools.Output{}, fmt.Errorf("%s search for %q: %w", t.Backend.Engine(), q, err)
	}
	maxResults := t.MaxResults
	if maxResults <= 0 {
		maxResults = 8
	}
	var b strings.Builder
	var out tools.Output
	seen := map[string]bool{}
	for _, r := range results {
		u := links.Normalize(r.URL)
		if u == "" || seen[u] || len(out.Sources) == maxResults {
			continue
		}
		seen[u] = true
		out.Sources = append(out.Sources, u)
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s\n   %s\n", len(out.Sources), oneLine(r.Title), u)
		if s := oneLine(r.Snippet); s != "" {
			fmt.Fprintf(&b, "   %s\n", s)
		}
	}
	if len(out.Sources) == 0 {
		return tools.Output{}, fmt.Errorf("%s search for %q: %w", t.Backend.Engine(), q, ErrNoResults)
	}
	out.Text = strings.TrimRight(b.String(), "\n")
	return out, nil
}

// transportError marks a failed request as worth retrying, unless the address
// guard refused it: a redirect into a private network stays refused.
func transportError(err error) error {
	if errors.Is(err, fetch.ErrForbiddenAddress) {
		return err
	}
	return tools.Transient(err)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
