package custom_test

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/tools/custom"
)

func ExampleLoad() {
	yaml := `tools:
  - name: Summarize
    description: Summarizes the input text.
    prompt:
      template: "Summarize: {{ .Input }}"
  - name: Grep
    description: Lists lines of my notes that match the input.
    command:
      argv: [grep, -r, --, "{{ .Input }}", /home/me/notes]
      exit_codes: [0, 1]
`
	set, err := custom.Load(context.Background(), "tools.yaml", []byte(yaml), custom.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	for _, t := range set.Tools {
		fmt.Printf("%s[input]: %s\n", t.Name(), t.Description())
	}
	// A tool with a mistake is left out with a warning; the others load.
	set, err = custom.Load(context.Background(), "tools.yaml", []byte("tools:\n  - name: X\n    descripton: typo\n"), custom.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(set.Tools), "tools;", set.Warnings[0])
	// Output:
	// Summarize[input]: Summarizes the input text.
	// Grep[input]: Lists lines of my notes that match the input.
	// 0 tools; tools.yaml:3:5: unknown field "descripton" in tools[0] (did you mean "description"?) (tool X is disabled)
}
