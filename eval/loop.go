package eval

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/calc"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/trainset"
)

// Open reads the set at path and finds its corpus folder: "" is the offline set,
// generated with its corpus under tmp; a set that carries its paragraphs has them
// written under tmp; an offline world's question file uses the docs folder beside
// it.
func Open(path, tmp string) (*Set, string, error) {
	if path == "" {
		s, err := Offline(tmp)
		return s, tmp, err
	}
	s, err := Load(path)
	if err != nil {
		return nil, "", err
	}
	if len(s.Docs) > 0 {
		return s, tmp, s.WriteCorpus(tmp)
	}
	dir := filepath.Join(filepath.Dir(path), "docs")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("%s: %w: no paragraphs in the set and no docs folder beside it", path, ErrFormat)
	}
	return s, dir, nil
}

// Tools are the tools a plan may call in an evaluation, with the settings the
// shipped model was trained with: LocalSearch (trainset.SearchResults results)
// and LocalReader over c, the Calculator, and KnowledgeModel answering with llm
// in at most trainset.AnswerTokens tokens.
func Tools(c *corpus.Corpus, llm engine.LLM) (*tools.Registry, error) {
	return tools.NewRegistry(&corpus.SearchTool{Corpus: c}, &corpus.ReaderTool{Corpus: c}, calc.Tool{},
		&knowledge.Model{LLM: llm, MaxTokens: trainset.AnswerTokens})
}

// OpenCorpus indexes dir for Tools.
func OpenCorpus(dir string) (*corpus.Corpus, error) {
	return corpus.Open(dir, corpus.Options{MaxResults: trainset.SearchResults, CheckEvery: 1 << 62})
}
