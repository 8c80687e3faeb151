package search_test

import (
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/tools/search"
)

func ExampleParseDuckDuckGo() {
	page := `<div id="links" class="results">
<div class="result results_links results_links_deep web-result">
<h2 class="result__title"><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fgo.dev%2F&amp;rut=x">The Go Programming Language</a></h2>
<a class="result__snippet">Go is an open source programming language.</a>
</div></div>`
	results, err := search.ParseDuckDuckGo(strings.NewReader(page))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("%s | %s | %s\n", r.Title, r.URL, r.Snippet)
	}
	// Output: The Go Programming Language | https://go.dev/ | Go is an open source programming language.
}
