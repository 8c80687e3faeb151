package tokenizer_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rewoo-agent/agent/engine/tokenizer"
)

func Example() {
	// The LLaMA tokenizer.model from the repository's fixtures.
	tok, err := tokenizer.Load(filepath.Join("..", "..", "internal", "fixtures", "testdata", "tokenizer", "tokenizer.model"))
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.EncodeWithBOS("Hello world")
	fmt.Println(ids, tok.Decode(ids))

	// Generated ids continue a prompt: the stream keeps their leading space and
	// holds back a character until its last byte arrives.
	s := tok.NewStream()
	for _, id := range []int{3186, 29871, 243, 162, 157, 131} { // " world", " ", "🚀" as 4 bytes
		fmt.Fprintf(os.Stdout, "%q ", s.Next(id))
	}
	fmt.Printf("%q\n", s.Flush())
	// Output:
	// [1 15043 3186] Hello world
	// " world" " " "" "" "" "🚀" ""
}

func ExampleParseIDs() {
	for _, s := range []string{"1,2,3", "1 2\n3", `{"ids":[1,2,3]}`, "1,x"} {
		ids, err := tokenizer.ParseIDs(s)
		fmt.Println(ids, err)
	}
	// Output:
	// [1 2 3] <nil>
	// [1 2 3] <nil>
	// [1 2 3] <nil>
	// [] bad token id list: token 2, "x", is not an integer id
}
