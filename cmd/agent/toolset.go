package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/tools/custom"
	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/tools/links"
	"github.com/rewoo-agent/agent/tools/scrape"
	"github.com/rewoo-agent/agent/tools/search"
)

// toolRegistry builds the tools a plan may call from the configuration: the
// built-ins (DuckDuckGo, TextScraper, HyperlinkExtractor, KnowledgeModel) and the
// custom tools of cfg.ToolsFile. KnowledgeModel and prompt tools call llm; with a
// nil llm they fail with a clear error when called. MCP servers the tools file
// starts are stopped when ctx ends.
func toolRegistry(ctx context.Context, cfg *configs.Config, llm engine.LLM) (*tools.Registry, error) {
	backend, err := searchBackend(cfg)
	if err != nil {
		return nil, err
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
		&knowledge.Model{LLM: llm, MaxTokens: cfg.Knowledge.MaxTokens, ContextLength: cfg.Knowledge.ContextLength},
	)
	if err != nil {
		return nil, err
	}
	if cfg.Corpus != "" {
		c, err := corpus.Open(cfg.Corpus, corpus.Options{MaxResults: cfg.Search.MaxResults})
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { c.Close() })
		for _, t := range []tools.Tool{&corpus.SearchTool{Corpus: c},
			&corpus.ReaderTool{Corpus: c, MaxDocs: f.MaxURLs, MaxChars: f.MaxChars}} {
			if err := reg.Add(t); err != nil {
				return nil, err
			}
		}
	}
	if cfg.ToolsFile == "" {
		return reg, nil
	}
	set, err := custom.LoadFile(ctx, cfg.ToolsFile, custom.Options{
		LLM:                  llm,
		UserAgent:            f.UserAgent,
		AllowPrivateNetworks: f.AllowPrivateNetworks,
		MaxRedirects:         f.MaxRedirects,
	})
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { set.Close() })
	for _, w := range set.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	for _, t := range set.Tools {
		if err := reg.Add(t); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %s: %v (tool %s is disabled)\n", cfg.ToolsFile, err, t.Name())
		}
	}
	return reg, nil
}

// searchBackend is the configured web search engine.
func searchBackend(cfg *configs.Config) (search.Backend, error) {
	s, f := cfg.Search, cfg.Fetch
	switch s.Backend {
	case "auto", "":
		if s.SearXNGURL == "" {
			break
		}
		fallthrough
	case "searxng":
		if s.SearXNGURL == "" {
			return nil, fmt.Errorf("search.backend is searxng but search.searxng_url (AGENT_SEARXNG_URL) is empty")
		}
		return search.NewSearXNG(search.SearXNGOptions{URL: s.SearXNGURL, UserAgent: f.UserAgent, Timeout: s.Timeout,
			MaxRedirects: f.MaxRedirects, AllowPrivateNetworks: f.AllowPrivateNetworks}), nil
	case "duckduckgo":
	default:
		return nil, fmt.Errorf("search.backend %q: want duckduckgo, searxng or auto", s.Backend)
	}
	return search.NewDuckDuckGo(search.DuckDuckGoOptions{
		URL:                  s.DuckDuckGoURL,
		Region:               s.Region,
		UserAgent:            f.UserAgent,
		Timeout:              s.Timeout,
		MaxRedirects:         f.MaxRedirects,
		AllowPrivateNetworks: f.AllowPrivateNetworks,
	}), nil
}
