package offline_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/models"
	"github.com/rewoo-agent/agent/trainset"
	"github.com/rewoo-agent/agent/world/offline"
)

func TestConfigure(t *testing.T) {
	cache := t.TempDir()
	for _, tc := range []struct {
		name      string
		env       []string
		flags     []configs.Setting
		model     string
		results   int
		maxTokens int
	}{
		{name: "defaults", model: models.Dir(models.RewooTiny), results: trainset.SearchResults, maxTokens: trainset.AnswerTokens},
		{name: "the user's settings win", env: []string{"AGENT_SEARCH_MAX_RESULTS=7"},
			flags: []configs.Setting{{Key: "engine.model", Value: "/some/model", Flag: "--model"}, {Key: "knowledge.max_tokens", Value: "64", Flag: "--max-tokens"}},
			model: "/some/model", results: 7, maxTokens: 64},
		{name: "a server instead of a model", flags: []configs.Setting{{Key: "engine.llm_url", Value: "http://localhost:1/v1", Flag: "--llm-url"}},
			results: trainset.SearchResults, maxTokens: trainset.AnswerTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configs.Load(configs.Options{File: os.DevNull, Env: append(tc.env, "AGENT_CACHE_DIR="+cache), Flags: tc.flags})
			if err != nil {
				t.Fatal(err)
			}
			if err := offline.Configure(cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Engine.Model != tc.model || cfg.Search.MaxResults != tc.results || cfg.Knowledge.MaxTokens != tc.maxTokens {
				t.Errorf("model %q, %d results, %d answer tokens; want %q, %d, %d",
					cfg.Engine.Model, cfg.Search.MaxResults, cfg.Knowledge.MaxTokens, tc.model, tc.results, tc.maxTokens)
			}
			if filepath.Dir(filepath.Dir(cfg.Corpus)) != cache {
				t.Errorf("corpus %s, not under the cache %s", cfg.Corpus, cache)
			}
			// One of the offline set's test documents (BENCHMARKS.md's test-0009).
			if _, err := os.Stat(filepath.Join(cfg.Corpus, "works", "silent-ember.md")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDocsWrittenOnce checks that the documents are written once, whole, and
// then found where they are; the folder holds nothing else.
func TestDocsWrittenOnce(t *testing.T) {
	cache := t.TempDir()
	docs, err := offline.Docs(cache)
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(docs, "works", "silent-ember.md")
	st, err := os.Stat(mark)
	if err != nil {
		t.Fatal(err)
	}
	again, err := offline.Docs(cache)
	if err != nil || again != docs {
		t.Fatalf("second call: %q, %v; want %q", again, err, docs)
	}
	if st2, err := os.Stat(mark); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("the documents were written again (%v)", err)
	}
	entries, err := os.ReadDir(filepath.Dir(docs))
	if err != nil || len(entries) != 1 {
		t.Errorf("the world's folder holds %d entries (%v), want only docs/", len(entries), err)
	}
	if _, err := offline.Docs(filepath.Join(mark, "x")); err == nil {
		t.Error("a cache under a file gave no error")
	}
}
