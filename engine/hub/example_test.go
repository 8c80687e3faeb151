package hub_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/engine/hub"
)

func ExampleParseRef() {
	ref, err := hub.ParseRef("TheBloke/airoboros-65B-gpt4-m2.0-GPTQ:gptq-4bit-32g-actorder_True")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Repo)
	fmt.Println(ref.Revision)
	c := hub.Cache{Dir: "/home/u/.cache/huggingface/hub"}
	fmt.Println(c.RepoDir(ref.Repo))
	// Output:
	// TheBloke/airoboros-65B-gpt4-m2.0-GPTQ
	// gptq-4bit-32g-actorder_True
	// /home/u/.cache/huggingface/hub/models--TheBloke--airoboros-65B-gpt4-m2.0-GPTQ
}

func ExampleCache_List() {
	c := hub.Cache{Dir: "/nonexistent/hub"}
	repos, err := c.List() // a cache folder that is not there holds nothing
	fmt.Println(len(repos), err)
	// Output: 0 <nil>
}
