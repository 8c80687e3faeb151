package corpus

import (
	"context"
	"testing"

	"github.com/rewoo-agent/agent/world"
)

// TestSearchOrderIsStable: two indexes of the same folder rank equal-scoring hits
// alike (the offline world's people share surnames, so their documents tie), so
// a plan's evidence, and an evaluation, repeat exactly.
func TestSearchOrderIsStable(t *testing.T) {
	w, err := world.Generate(1, 2000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := w.WriteDocuments(dir); err != nil {
		t.Fatal(err)
	}
	var cs [2]*Corpus
	for i := range cs {
		if cs[i], err = Open(dir, Options{MaxResults: 4}); err != nil {
			t.Fatal(err)
		}
		defer cs[i].Close()
	}
	ents := w.Entities()
	for i := 0; i < 200; i++ {
		q := ents[i*37%len(ents)].Name
		a, errA := cs[0].Search(context.Background(), q)
		b, errB := cs[1].Search(context.Background(), q)
		if errA != nil || errB != nil || len(a) != len(b) {
			t.Fatalf("%q: %v, %v, %d and %d results", q, errA, errB, len(a), len(b))
		}
		for j := range a {
			if a[j].URL != b[j].URL {
				t.Fatalf("%q: hit %d is %s in one index, %s in the other", q, j, a[j].URL, b[j].URL)
			}
		}
	}
}
