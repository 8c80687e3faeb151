package scrape

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/links"
)

// Description is what the planner shows the model, as in the seed model's training.
const Description = "Load one or more websites from the input string containing newline delimited links, where input is one or more links, and produces plain text output containing the content of the links."

// ErrNoURLs is returned when the input holds no http(s) URL.
var ErrNoURLs = errors.New("no http(s) URLs in the input")

// Scraper is the TextScraper tool: it fetches the URLs in its input concurrently and
// returns each page's readable text headed by its URL and title.
type Scraper struct {
	Fetcher     *fetch.Fetcher
	MaxURLs     int // URLs fetched per call at most (5)
	MaxChars    int // bytes of text kept per page (12000)
	Concurrency int // pages fetched at once (4)
}

var _ tools.Tool = (*Scraper)(nil)

func (*Scraper) Name() string        { return "TextScraper" }
func (*Scraper) Description() string { return Description }

// Call fetches the URLs in req.Input. A page that fails is reported in the text
// beside the others; the call fails only when every page does.
func (s *Scraper) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	maxURLs := cmp.Or(max(s.MaxURLs, 0), 5)
	all := links.Find(req.Input, 0)
	if len(all) == 0 {
		return tools.Output{}, ErrNoURLs
	}
	urls := all[:min(len(all), maxURLs)]

	type result struct {
		page  *fetch.Page
		title string
		text  string
		err   error
	}
	results := make([]result, len(urls))
	var g errgroup.Group
	g.SetLimit(cmp.Or(max(s.Concurrency, 0), 4))
	for i, u := range urls {
		g.Go(func() error {
			p, err := s.Fetcher.Fetch(ctx, u)
			if err != nil {
				results[i].err = err
				return nil
			}
			title, text := Readable(p)
			if text == "" {
				results[i].err = fmt.Errorf("fetch %s: no readable text", p.URL)
				return nil
			}
			results[i] = result{page: p, title: title, text: text}
			return nil
		})
	}
	_ = g.Wait() // every goroutine returns nil; errors are kept per page

	maxChars := cmp.Or(max(s.MaxChars, 0), 12000)
	var b strings.Builder
	var out tools.Output
	var errs []error
	allTransient := true
	for i, r := range results {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		if r.err != nil {
			fmt.Fprintf(&b, "URL: %s\nError: %v", masked(urls[i]), r.err)
			errs = append(errs, r.err)
			allTransient = allTransient && tools.IsTransient(r.err)
			continue
		}
		fmt.Fprintf(&b, "URL: %s\n", r.page.URL)
		if r.title != "" {
			fmt.Fprintf(&b, "Title: %s\n", r.title)
		}
		b.WriteString("\n")
		text := r.text
		if r.page.Truncated {
			text += " [...]"
		}
		b.WriteString(Cut(text, maxChars))
		out.Sources = append(out.Sources, r.page.URL)
	}
	if len(errs) == len(results) {
		err := errors.Join(errs...)
		if allTransient {
			err = tools.Transient(err)
		}
		return tools.Output{}, err
	}
	if n := len(all) - len(urls); n > 0 {
		fmt.Fprintf(&b, "\n\n(%d more URLs not fetched: at most %d per call)", n, maxURLs)
	}
	out.Text = b.String()
	return out, nil
}

// masked is rawURL with its password, if any, masked: the fetcher's errors and
// pages show URLs so already.
func masked(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
