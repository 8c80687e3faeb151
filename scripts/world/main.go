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
//
// With -train-worlds N it also writes OUT/train-SEED.jsonl for N more worlds
// (seeds -train-seed on), every question of each a training example: names fresh
// in every world teach a model to copy names from its evidence rather than to
// remember them. Those worlds avoid the names of the main world's dev and test
// entities (world.GenerateAvoiding), so the held-out sets stay unseen:
//
//	go run ./scripts/world -out .train/data -train-worlds 8
//
// Every training comparison of years is also asked the other way round
// (world.Contrast; -contrasts=false leaves them out), so that the model learns to
// pick the Calculator's "<" or ">" from the question's "earlier" or "later".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

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
	trainWorlds := flag.Int("train-worlds", 0, "more worlds whose every question is training data")
	trainSeed := flag.Int64("train-seed", 1001, "the first of the more worlds' seeds")
	contrasts := flag.Bool("contrasts", true, "train on every comparison of years also asked the other way round (world.Contrast)")
	flag.Parse()
	if *trainWorlds < 0 {
		log.Fatalf("-train-worlds %d: want 0 or more", *trainWorlds)
	}
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
	opts := trainset.Options{ContextLength: *ctxLen, MaxTokens: *maxTok}
	training := func(w *world.World, qs []world.Question) []world.Question { return qs }
	if *contrasts {
		training = withContrasts
	}
	w, err := run(context.Background(), *seed, *size, *out, *results, opts, training)
	if err == nil && *trainWorlds > 0 {
		err = more(context.Background(), w, *trainSeed, *trainWorlds, *out, *results, opts, training)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// run writes the world of seed and the examples of each of its splits, the training
// split's questions passed through training first.
func run(ctx context.Context, seed int64, size int, out string, results int, opts trainset.Options, training func(*world.World, []world.Question) []world.Question) (*world.World, error) {
	w, err := world.Generate(seed, size)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(out, "world")
	if err := w.Write(dir); err != nil {
		return nil, err
	}
	// The training examples search the training documents alone: over the whole
	// corpus a search would show held-out documents (the other splits') in a
	// training prompt.
	trainDocs, err := os.MkdirTemp("", "world-docs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(trainDocs)
	if err := writeDocuments(w, world.Train, trainDocs); err != nil {
		return nil, err
	}
	for _, s := range world.Splits {
		docs := filepath.Join(dir, "docs")
		if s == world.Train {
			docs = trainDocs
		}
		qs := w.Questions(s)
		if s == world.Train {
			qs = training(w, qs)
		}
		n, err := export(ctx, w, docs, qs, filepath.Join(out, string(s)+".jsonl"), results, opts)
		if err != nil {
			return nil, err
		}
		fmt.Printf("%s: %d questions, %d examples\n", s, len(qs), n)
	}
	return w, nil
}

// writeDocuments writes the documents of w's split under dir, as
// world.WriteDocuments writes them all.
func writeDocuments(w *world.World, split world.Split, dir string) error {
	for _, d := range w.Documents() {
		if d.Split != split {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(d.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(d.Markdown()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// more writes the training examples of n worlds of held's size, seeds from first
// on, that avoid the names of held's dev and test entities; every split of theirs
// is training data, passed through training. They are generated in parallel.
func more(ctx context.Context, held *world.World, first int64, n int, out string, results int, opts trainset.Options, training func(*world.World, []world.Question) []world.Question) error {
	avoid := append(held.Names(world.Dev), held.Names(world.Test)...)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for seed := first; seed < first+int64(n); seed++ {
		g.Go(func() error {
			w, err := world.GenerateAvoiding(seed, held.Size, avoid)
			if err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "world-docs-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			if err := w.WriteDocuments(tmp); err != nil {
				return err
			}
			qs := training(w, w.Questions(""))
			for i := range qs {
				qs[i].Split = world.Train
			}
			k, err := export(ctx, w, tmp, qs, filepath.Join(out, fmt.Sprintf("train-%d.jsonl", seed)), results, opts)
			if err != nil {
				return fmt.Errorf("world %d: %w", seed, err)
			}
			fmt.Printf("train world %d: %d questions, %d examples\n", seed, len(qs), k)
			return nil
		})
	}
	return g.Wait()
}

// export writes the examples of qs, over the corpus of docs, to the file path.
func export(ctx context.Context, w *world.World, docs string, qs []world.Question, path string, results int, opts trainset.Options) (int, error) {
	return toFile(docs, path, results, func(c *corpus.Corpus, f io.Writer) (int, error) {
		return trainset.Export(ctx, w, c, qs, opts, f)
	})
}

// toFile opens the corpus of docs and creates the file path, and has write fill it
// from the corpus.
func toFile(docs, path string, results int, write func(*corpus.Corpus, io.Writer) (int, error)) (int, error) {
	c, err := corpus.Open(docs, corpus.Options{MaxResults: results, CheckEvery: 1 << 62})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := write(c, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// withContrasts returns qs with each comparison of years also asked the other way
// round (world.Contrast) right after it, unless qs asks that already.
func withContrasts(w *world.World, qs []world.Question) []world.Question {
	asked := map[string]bool{}
	for _, q := range qs {
		asked[q.Question] = true
	}
	out := make([]world.Question, 0, 2*len(qs))
	for _, q := range qs {
		out = append(out, q)
		if c, ok := w.Contrast(q); ok && !asked[c.Question] {
			asked[c.Question] = true
			out = append(out, c)
		}
	}
	return out
}
