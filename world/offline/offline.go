// Package offline sets up `agent ask --offline`: the shipped model (models,
// rewoo-tiny) asked about the offline world (package world, the seed and size of
// `agent eval`'s offline set) with no model of one's own and no network.
//
// Configure writes the world's documents once into the cache folder and points
// the configuration at them and at the shipped model, with the settings the model
// was trained with (package trainset): four LocalSearch results, short
// KnowledgeModel answers. Settings given in a file, the environment or a flag win.
package offline

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/eval"
	"github.com/rewoo-agent/agent/models"
	"github.com/rewoo-agent/agent/trainset"
	"github.com/rewoo-agent/agent/world"
)

// Configure points cfg at the offline world's documents (written under
// cfg.CacheDir the first time) and, where cfg names no model and no server, at
// the shipped model; the search and answer settings the model was trained with
// replace the defaults, not what the user set.
func Configure(cfg *configs.Config) error {
	if cfg.CacheDir == "" {
		return fmt.Errorf("offline: no cache folder for the world's documents (set cache_dir or AGENT_CACHE_DIR)")
	}
	docs, err := Docs(cfg.CacheDir)
	if err != nil {
		return err
	}
	settings := []struct{ key, value string }{
		{"corpus", docs},
		{"search.max_results", strconv.Itoa(trainset.SearchResults)},
		{"knowledge.max_tokens", strconv.Itoa(trainset.AnswerTokens)},
	}
	if cfg.Engine.Model == "" && cfg.Engine.LLMURL == "" {
		settings = append(settings, struct{ key, value string }{"engine.model", models.Dir(models.RewooTiny)})
	}
	for _, s := range settings {
		if cfg.Source(s.key).Rank() > 0 {
			continue
		}
		if err := cfg.Set(s.key, s.value, configs.Source{Kind: "default", Where: "--offline"}); err != nil {
			return fmt.Errorf("offline: %w", err)
		}
	}
	return nil
}

// Docs returns the folder of the offline world's documents under cache, and
// writes them there first when they are not: into a folder of its own, renamed
// into place whole, so that a run stopped half-way, or two at once, never leave a
// partial corpus.
func Docs(cache string) (string, error) {
	dir := filepath.Join(cache, fmt.Sprintf("offline-world-%d-%d", eval.OfflineSeed, eval.OfflineSize))
	docs := filepath.Join(dir, "docs")
	if st, err := os.Stat(docs); err == nil && st.IsDir() {
		return docs, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "docs-")
	if err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	defer os.RemoveAll(tmp)
	w, err := world.Generate(eval.OfflineSeed, eval.OfflineSize)
	if err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	if err := w.WriteDocuments(tmp); err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	if err := os.Rename(tmp, docs); err != nil {
		// Another run put its copy in place first: the same documents.
		if st, serr := os.Stat(docs); serr == nil && st.IsDir() {
			return docs, nil
		}
		return "", fmt.Errorf("offline: %w", err)
	}
	return docs, nil
}
