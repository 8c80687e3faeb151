// Command world generates an offline world and the training examples of a small
// reWOO model over it (package trainset):
//
//	go run ./scripts/world -out .train/data
//
// writes OUT/world (the world as world.Write writes it: docs/, train/dev/test.jsonl,
// documents.jsonl) and OUT/train.jsonl, OUT/dev.jsonl, OUT/test.jsonl: one example
// a line, {"split","kind","question","prompt","completion"}. Only train.jsonl is
// for training; dev.jsonl measures perplexity on held-out questions and entities.
// The defaults are the world the shipped model was trained on, whose test split is
// `agent eval`'s offline set. With -docs-only it writes only OUT/world/docs, a
// corpus for `agent ask --corpus`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rewoo-agent/agent/eval"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/trainset"
	"github.com/rewoo-agent/agent/world"
)

func main() {
	seed := flag.Int64("seed", eval.OfflineSeed, "world seed")
	size := flag.Int("size", eval.OfflineSize, "people in the world")
	docsOnly := flag.Bool("docs-only", false, "write only the documents, under OUT/world/docs")
	out := flag.String("out", ".train/data", "output folder")
	results := flag.Int("results", trainset.SearchResults, "search results per LocalSearch call")
	ctxLen := flag.Int("context", trainset.ContextLength, "KnowledgeModel context length in tokens")
	maxTok := flag.Int("max-tokens", trainset.AnswerTokens, "KnowledgeModel answer tokens")
	flag.Parse()
	if *docsOnly {
		w, err := world.Generate(*seed, *size)
		if err == nil {
			err = w.WriteDocuments(filepath.Join(*out, "world", "docs"))
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(context.Background(), *seed, *size, *out, *results, trainset.Options{ContextLength: *ctxLen, MaxTokens: *maxTok}); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, seed int64, size int, out string, results int, opts trainset.Options) error {
	w, err := world.Generate(seed, size)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, "world")
	if err := w.Write(dir); err != nil {
		return err
	}
	c, err := corpus.Open(filepath.Join(dir, "docs"), corpus.Options{MaxResults: results, CheckEvery: 1 << 62})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, s := range world.Splits {
		f, err := os.Create(filepath.Join(out, string(s)+".jsonl"))
		if err != nil {
			return err
		}
		n, err := trainset.Export(ctx, w, c, w.Questions(s), opts, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d questions, %d examples\n", s, len(w.Questions(s)), n)
	}
	return nil
}
