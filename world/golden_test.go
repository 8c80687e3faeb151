package world_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"testing"

	"github.com/rewoo-agent/agent/world"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestSeedGivesTheSameWorldAsBefore pins the world of one seed across commits and
// platforms: a trained model's data and the evaluation sets are regenerated from
// seeds, so a generator change must be deliberate (go test ./world -update) and
// said in its commit.
func TestSeedGivesTheSameWorldAsBefore(t *testing.T) {
	w, err := world.Generate(1, 100)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, d := range w.Documents() {
		io.WriteString(h, d.Markdown())
	}
	if err := world.WriteQuestions(h, w.Questions("")); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(h.Sum(nil)) + "\n"
	const golden = "testdata/seed1-size100.sha256"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the world of seed 1 changed (sha256 %s, was %s): sets generated before no longer match; if meant, run go test ./world -update", got[:16], string(want[:16]))
	}
}
