package corpus_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/world"
)

// Search the offline world's documents and read the best hit, as a plan's
// LocalSearch and LocalReader steps would.
func Example() {
	dir, err := os.MkdirTemp("", "corpus-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	w, err := world.Generate(1, 100)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.WriteDocuments(dir); err != nil {
		log.Fatal(err)
	}

	c, err := corpus.Open(dir, corpus.Options{MaxResults: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	search, reader := c.Tools()[0], c.Tools()[1]
	ctx := context.Background()
	found, err := search.Call(ctx, tools.Request{Input: "capital of Borienia"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found.Text)
	doc, err := reader.Call(ctx, tools.Request{Input: found.Sources[0]})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	fmt.Println(doc.Text)
	// Output:
	// 1. Borienia
	//    world://countries/borienia
	//    Borienia is a country. Its capital is Merspire. Its national day falls in September. Borienia has long traded with Zeraovia.
	//
	// 2. Zeraovia
	//    world://countries/zeraovia
	//    Zeraovia is a country. Zeraovia has long traded with Borienia. Its national day falls in May. The capital of Zeraovia is Malwold.
	//
	// URL: world://countries/borienia
	// Title: Borienia
	//
	// Borienia is a country. Its capital is Merspire. Its national day falls in September. Borienia has long traded with Zeraovia.
}
