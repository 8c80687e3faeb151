package configs_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/configs"
)

func ExampleLoad() {
	cfg, err := configs.Load(configs.Options{
		Env:   []string{"AGENT_SEARXNG_URL=https://searx.example.org"},
		Flags: []configs.Setting{{Key: "fetch.timeout", Value: "5s", Flag: "--timeout"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Search.SearXNGURL, cfg.Source("search.searxng_url"))
	fmt.Println(cfg.Fetch.Timeout, cfg.Source("fetch.timeout"))
	fmt.Println(cfg.Fetch.MaxRedirects, cfg.Source("fetch.max_redirects"))
	// Output:
	// https://searx.example.org env AGENT_SEARXNG_URL
	// 5s flag --timeout
	// 5 default
}
