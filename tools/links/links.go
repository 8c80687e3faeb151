// Package links is the HyperlinkExtractor tool: it picks the absolute http(s) links
// out of text or HTML evidence, de-duplicated in order of appearance, without junk
// (javascript:, mailto:, bare fragments) and up to a cap.
package links

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"

	"github.com/rewoo-agent/agent/tools"
)

// urlPattern matches a URL written in text. Brackets end it, so a URL inside a plan's
// Tool[...] call or a Markdown link stops where the bracket does, except the pair
// around an IPv6 literal host (http://[2606:4700::1]/, with userinfo or a zone).
var urlPattern = regexp.MustCompile(`(?i)\bhttps?://(?:[^\s<>"'\x60{}|\\^\[\]/?#@]*@)?(?:\[[0-9a-f:.]+(?:%25[0-9a-z._~-]+)?\])?[^\s<>"'\x60{}|\\^\[\]]*`)

// Find returns the absolute http(s) links in s, plain text or HTML, normalized
// (fragment dropped, scheme and host lower-case), each once, in order of appearance,
// at most max of them (max <= 0 means all).
func Find(s string, max int) []string {
	var c collector
	c.max = max
	if looksLikeHTML(s) {
		if doc, err := goquery.NewDocumentFromReader(strings.NewReader(s)); err == nil {
			c.walk(doc.Nodes...)
			return c.links
		}
	}
	c.text(s)
	return c.links
}

func looksLikeHTML(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "<a ") || strings.Contains(l, "<html") || strings.Contains(l, "<body")
}

type collector struct {
	max   int
	seen  map[string]bool
	links []string
}

func (c *collector) full() bool { return c.max > 0 && len(c.links) >= c.max }

func (c *collector) walk(nodes ...*html.Node) {
	for _, n := range nodes {
		if c.full() {
			return
		}
		switch n.Type {
		case html.TextNode:
			c.text(n.Data)
		case html.ElementNode:
			if n.Data == "script" || n.Data == "style" {
				continue
			}
			if n.Data == "a" || n.Data == "area" {
				for _, a := range n.Attr {
					if a.Key == "href" {
						c.add(strings.TrimSpace(a.Val))
					}
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			c.walk(ch)
		}
	}
}

func (c *collector) text(s string) {
	for _, m := range urlPattern.FindAllString(s, -1) {
		if c.full() {
			return
		}
		c.add(trimTrailing(m))
	}
}

func (c *collector) add(raw string) {
	if c.full() {
		return
	}
	u := Normalize(raw)
	if u == "" {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if !c.seen[u] {
		c.seen[u] = true
		c.links = append(c.links, u)
	}
}

// Normalize returns raw as an absolute http(s) URL without its fragment, or "" when
// raw is not one (relative, javascript:, mailto:, no host).
func Normalize(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	u.Host = strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" && u.RawQuery == "" {
		u.Path = "/"
	}
	return u.String()
}

// trimTrailing drops punctuation that ends a sentence rather than the URL, and a
// closing parenthesis that has no opening one inside the URL.
func trimTrailing(s string) string {
	for s != "" {
		last := s[len(s)-1]
		switch {
		case strings.IndexByte(".,;:!?'\"*", last) >= 0:
			s = s[:len(s)-1]
		case last == ')' && strings.Count(s, "(") < strings.Count(s, ")"):
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}

// Description is what the planner shows the model, as in the seed model's training.
const Description = "Extract links from plain text and produces a plain text, newline delimited response of links."

// Extractor is the HyperlinkExtractor tool.
type Extractor struct {
	Max int // links returned at most; <= 0 means all
}

var _ tools.Tool = Extractor{}

// ErrNoLinks is returned when the input holds no http(s) link.
var ErrNoLinks = errors.New("no links found in the input")

func (Extractor) Name() string        { return "HyperlinkExtractor" }
func (Extractor) Description() string { return Description }

// Call returns the links of req.Input one per line. Its sources are the sources of
// the evidence the input cites: the pages the links were found on.
func (e Extractor) Call(_ context.Context, req tools.Request) (tools.Output, error) {
	found := Find(req.Input, e.Max)
	if len(found) == 0 {
		return tools.Output{}, ErrNoLinks
	}
	return tools.Output{Text: strings.Join(found, "\n"), Sources: req.CitedSources()}, nil
}
