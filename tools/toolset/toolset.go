// Package toolset builds the tools a plan may call from the configuration: the
// built-ins (DuckDuckGo or SearXNG search, TextScraper, HyperlinkExtractor,
// Calculator, KnowledgeModel), the corpus tools of cfg.Corpus, and the custom tools of
// cfg.ToolsFile.
package toolset

import (
	"context"
	"errors"
	"fmt"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/calc"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/tools/custom"
	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/tools/links"
	"github.com/rewoo-agent/agent/tools/scrape"
	"github.com/rewoo-agent/agent/tools/search"
)

// ErrSearchBackend reports a search backend the configuration cannot give.
var ErrSearchBackend = errors.New("search backend")

// Build returns the registry of the configured tools and a warning for each
// custom tool that is disabled (it alone: the others stay). KnowledgeModel and
// prompt tools call llm; with a nil llm they fail with a clear error when
// called. The corpus and the MCP servers the tools file starts are closed
// when ctx ends.
func Build(ctx context.Context, cfg *configs.Config, llm engine.LLM) (*tools.Registry, []error, error) {
	var local *corpus.Corpus
	if cfg.Corpus != "" {
		c, err := corpus.Open(cfg.Corpus, corpus.Options{MaxResults: cfg.Search.MaxResults})
		if err != nil {
			return nil, nil, err
		}
		context.AfterFunc(ctx, func() { c.Close() })
		local = c
	}
	var localBackend search.Backend
	if local != nil {
		localBackend = local
	}
	backend, err := SearchBackend(cfg, localBackend)
	if err != nil {
		return nil, nil, err
	}
	f := cfg.Fetch
	reg, err := tools.NewRegistry(
		&search.Tool{Backend: backend, MaxResults: cfg.Search.MaxResults},
		&scrape.Scraper{
			Fetcher: fetch.New(fetch.Options{
				Timeout:      f.Timeout,
				MaxBytes:     f.MaxBytes,
				MaxRedirects: f.MaxRedirects,
				UserAgent:    f.UserAgent,
				PerHostRate:  f.PerHostRate,
				PerHostBurst: f.PerHostBurst,
				Robots:       f.Robots,
				AllowPrivate: f.AllowPrivateNetworks,
			}),
			MaxURLs:     f.MaxURLs,
			MaxChars:    f.MaxChars,
			Concurrency: f.Concurrency,
		},
		links.Extractor{Max: cfg.Links.Max},
		calc.Tool{},
		&knowledge.Model{LLM: llm, MaxTokens: cfg.Knowledge.MaxTokens, ContextLength: cfg.Knowledge.ContextLength},
	)
	if err != nil {
		return nil, nil, err
	}
	if c := local; c != nil {
		for _, t := range []tools.Tool{&corpus.SearchTool{Corpus: c},
			&corpus.ReaderTool{Corpus: c, MaxDocs: f.MaxURLs, MaxChars: f.MaxChars}} {
			if err := reg.Add(t); err != nil {
				return nil, nil, err
			}
		}
	}
	if cfg.ToolsFile == "" {
		return reg, nil, nil
	}
	set, err := custom.LoadFile(ctx, cfg.ToolsFile, custom.Options{
		LLM:                  llm,
		UserAgent:            f.UserAgent,
		AllowPrivateNetworks: f.AllowPrivateNetworks,
		MaxRedirects:         f.MaxRedirects,
	})
	if err != nil {
		return nil, nil, err
	}
	context.AfterFunc(ctx, func() { set.Close() })
	warnings := append([]error(nil), set.Warnings...)
	for _, t := range set.Tools {
		if err := reg.Add(t); err != nil {
			warnings = append(warnings, fmt.Errorf("%s: %w (tool %s is disabled)", cfg.ToolsFile, err, t.Name()))
		}
	}
	return reg, warnings, nil
}

// SearchBackend is the configured web search engine, and after it those of
// search.fallback, tried in turn when one blocks a request (each left alone for
// search.block_pause once it has): duckduckgo, searxng, and corpus, the local
// corpus (local, nil when none is configured). Entries not configured
// (searxng without a URL, corpus without a corpus) are left out.
func SearchBackend(cfg *configs.Config, local search.Backend) (search.Backend, error) {
	s := cfg.Search
	primary := s.Backend
	switch primary {
	case "auto", "":
		primary = "duckduckgo"
		if s.SearXNGURL != "" {
			primary = "searxng"
		}
	case "searxng":
		if s.SearXNGURL == "" {
			return nil, fmt.Errorf("%w: search.backend is searxng but search.searxng_url (AGENT_SEARXNG_URL) is empty", ErrSearchBackend)
		}
	case "duckduckgo":
	default:
		return nil, fmt.Errorf("%w: search.backend %q: want duckduckgo, searxng or auto", ErrSearchBackend, s.Backend)
	}
	chain := []search.Backend{newSearchBackend(cfg, primary)}
	seen := map[string]bool{primary: true}
	for _, name := range s.Fallback {
		switch name {
		case "duckduckgo", "searxng", "corpus":
		default:
			return nil, fmt.Errorf("%w: search.fallback: %q: want duckduckgo, searxng or corpus", ErrSearchBackend, name)
		}
		if seen[name] || (name == "searxng" && s.SearXNGURL == "") || (name == "corpus" && local == nil) {
			continue
		}
		seen[name] = true
		if name == "corpus" {
			chain = append(chain, local)
			continue
		}
		chain = append(chain, newSearchBackend(cfg, name))
	}
	if len(chain) == 1 {
		return chain[0], nil
	}
	return search.NewFallback(s.BlockPause, chain...), nil
}

// newSearchBackend makes the backend called name (duckduckgo or searxng).
func newSearchBackend(cfg *configs.Config, name string) search.Backend {
	s, f := cfg.Search, cfg.Fetch
	if name == "searxng" {
		return search.NewSearXNG(search.SearXNGOptions{URL: s.SearXNGURL, UserAgent: f.UserAgent, Timeout: s.Timeout,
			MaxRedirects: f.MaxRedirects, AllowPrivateNetworks: f.AllowPrivateNetworks})
	}
	return search.NewDuckDuckGo(search.DuckDuckGoOptions{
		URL:                  s.DuckDuckGoURL,
		Region:               s.Region,
		UserAgent:            f.UserAgent,
		Timeout:              s.Timeout,
		Backoff:              s.BlockPause,
		MaxRedirects:         f.MaxRedirects,
		AllowPrivateNetworks: f.AllowPrivateNetworks,
	})
}
