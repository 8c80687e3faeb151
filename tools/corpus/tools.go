package corpus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/scrape"
)

// Descriptions the planner shows the model, worded as the web tools' are.
const (
	SearchDescription = "Tool that searches a local collection of documents. It finds a list of documents, each with its URL, that may include the answer to the user's question."
	ReaderDescription = "Load one or more documents of the local collection from the input string containing newline delimited document URLs, and produces plain text output containing the content of the documents."
)

// Default tool names.
const (
	SearchName = "LocalSearch"
	ReaderName = "LocalReader"
)

// SearchTool searches a corpus. Its output is the web search tool's: numbered
// results, each a title, a URL and a snippet, blank lines between; the sources are
// the URLs in order.
type SearchTool struct {
	Corpus   *Corpus
	ToolName string // SearchName when empty
}

var _ tools.Tool = (*SearchTool)(nil)

func (t *SearchTool) Name() string      { return cmp.Or(t.ToolName, SearchName) }
func (*SearchTool) Description() string { return SearchDescription }

// Call searches for req.Input.
func (t *SearchTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	results, err := t.Corpus.Search(ctx, req.Input)
	if err != nil {
		return tools.Output{}, fmt.Errorf("%s: %w", t.Name(), err)
	}
	var b strings.Builder
	var out tools.Output
	for _, r := range results {
		out.Sources = append(out.Sources, r.URL)
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s\n   %s\n", len(out.Sources), oneLine(r.Title), r.URL)
		if s := oneLine(r.Snippet); s != "" {
			fmt.Fprintf(&b, "   %s\n", s)
		}
	}
	out.Text = strings.TrimRight(b.String(), "\n")
	return out, nil
}

// ReaderTool returns documents of a corpus by URL. Its input is as TextScraper's:
// one or more URLs anywhere in the text (a search's output will do); with none, each
// line is taken as a path in the folder or a document's title. Its output is too:
// each document headed by its URL and title, and a reference it cannot find is
// reported beside the others; the call fails only when none is found.
type ReaderTool struct {
	Corpus   *Corpus
	ToolName string // ReaderName when empty
	MaxDocs  int    // documents returned per call at most (5)
	MaxChars int    // bytes of text kept per document (12000)
}

var _ tools.Tool = (*ReaderTool)(nil)

func (t *ReaderTool) Name() string      { return cmp.Or(t.ToolName, ReaderName) }
func (*ReaderTool) Description() string { return ReaderDescription }

// refPattern is a URL of any scheme as written in text; brackets, quotes and spaces
// end it.
var refPattern = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>"'\x60{}|\\^\[\]()]+`)

// refs returns the document references in input, each once, in order.
func refs(input string) []string {
	found := refPattern.FindAllString(input, -1)
	if len(found) == 0 {
		found = strings.Split(input, "\n")
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range found {
		r = strings.TrimRight(strings.TrimSpace(r), ".,;:!?*")
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Call returns the documents req.Input refers to.
func (t *ReaderTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	all := refs(req.Input)
	if len(all) == 0 {
		return tools.Output{}, fmt.Errorf("%s: %w: the input names no document", t.Name(), ErrNotFound)
	}
	want := all[:min(len(all), cmp.Or(max(t.MaxDocs, 0), 5))]
	maxChars := cmp.Or(max(t.MaxChars, 0), 12000)
	var b strings.Builder
	var out tools.Output
	var errs []error
	for _, ref := range want {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		d, err := t.Corpus.Document(ctx, ref)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				return tools.Output{}, fmt.Errorf("%s: %w", t.Name(), err)
			}
			fmt.Fprintf(&b, "URL: %s\nError: %v", ref, err)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(&b, "URL: %s\nTitle: %s\n\n%s", d.URL, d.Title, scrape.Cut(d.Text, maxChars))
		out.Sources = append(out.Sources, d.URL)
	}
	if len(errs) == len(want) {
		return tools.Output{}, fmt.Errorf("%s: %w", t.Name(), errors.Join(errs...))
	}
	if n := len(all) - len(want); n > 0 {
		fmt.Fprintf(&b, "\n\n(%d more documents not read: at most %d per call)", n, len(want))
	}
	out.Text = b.String()
	return out, nil
}

// Tools returns the corpus's search and reader tools under their default names,
// ready for a tools.Registry.
func (c *Corpus) Tools() []tools.Tool {
	return []tools.Tool{&SearchTool{Corpus: c}, &ReaderTool{Corpus: c}}
}
