package corpus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/world"
)

// worldCorpus writes a generated world's documents to a folder and opens it.
func worldCorpus(tb testing.TB, seed int64, size int) (*world.World, *corpus.Corpus) {
	tb.Helper()
	w, err := world.Generate(seed, size)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := w.WriteDocuments(dir); err != nil {
		tb.Fatal(err)
	}
	c, err := corpus.Open(dir, corpus.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if c.Len() != len(w.Documents()) {
		tb.Fatalf("indexed %d of %d documents; skipped %v", c.Len(), len(w.Documents()), c.Skipped())
	}
	return w, c
}

// recall measures, over split's questions, how often the corpus search ranks a
// supporting document first and in its top 8 when asked for the entity the hop is
// about (what a plan searches for once it knows the bridge entity), and how often
// the whole question's first supporting document is in the top 8.
type recall struct{ hop1, hop8, question8 float64 }

func measure(tb testing.TB, w *world.World, c *corpus.Corpus, split world.Split) recall {
	ctx := context.Background()
	var r recall
	hops, qs := 0, 0
	urls := func(query string) []string {
		res, err := c.Search(ctx, query)
		if err != nil {
			tb.Fatalf("search %q: %v", query, err)
		}
		var out []string
		for _, x := range res {
			out = append(out, x.URL)
		}
		return out
	}
	for _, q := range w.Questions(split) {
		for _, s := range q.Supporting {
			e, _ := w.Entity(s.Subject)
			got := urls(e.Name)
			hops++
			if got[0] == s.Doc {
				r.hop1++
			}
			if slices.Contains(got, s.Doc) {
				r.hop8++
			}
		}
		qs++
		if slices.Contains(urls(q.Question), q.Supporting[0].Doc) {
			r.question8++
		}
	}
	r.hop1 /= float64(hops)
	r.hop8 /= float64(hops)
	r.question8 /= float64(qs)
	return r
}

func TestSearchFindsSupportingDocuments(t *testing.T) {
	w, c := worldCorpus(t, 1, 500)
	r := measure(t, w, c, world.Test)
	t.Logf("test split of a 500-person world, %d documents: entity search recall@1 %.3f, @8 %.3f; question text recall@8 of the first hop %.3f",
		c.Len(), r.hop1, r.hop8, r.question8)
	if r.hop1 < 0.95 || r.hop8 < 0.99 {
		t.Errorf("entity search recall@1 %.3f, @8 %.3f: want 0.95 and 0.99", r.hop1, r.hop8)
	}
	if r.question8 < 0.8 {
		t.Errorf("question recall@8 %.3f: want 0.8", r.question8)
	}
}

// BenchmarkSearch times one search of a question over a world's documents (each
// call walks the folder for changes first) and reports the recall figures.
func BenchmarkSearch(b *testing.B) {
	for _, size := range []int{500, 5000} {
		b.Run(fmt.Sprintf("people=%d", size), func(b *testing.B) {
			w, c := worldCorpus(b, 1, size)
			r := measure(b, w, c, world.Test)
			qs := w.Questions(world.Test)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := c.Search(ctx, qs[i%len(qs)].Question); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(r.hop1, "recall@1")
			b.ReportMetric(r.hop8, "recall@8")
			b.ReportMetric(r.question8, "q-recall@8")
		})
	}
}

// BenchmarkIndex times indexing a world's documents from scratch.
func BenchmarkIndex(b *testing.B) {
	for _, size := range []int{500, 5000} {
		b.Run(fmt.Sprintf("people=%d", size), func(b *testing.B) {
			w, err := world.Generate(1, size)
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			if err := w.WriteDocuments(dir); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c, err := corpus.Open(dir, corpus.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Refresh(context.Background()); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(len(w.Documents())), "docs")
		})
	}
}
