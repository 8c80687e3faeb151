package repl_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/internal/repl"
)

func ExampleRun() {
	in := strings.NewReader("Who won in 2020?\n\nAnd in 2021?\nexit\nnever read\n")
	st, err := repl.Run(context.Background(), in, 1<<10, nil, func(_ context.Context, q string) error {
		fmt.Println("answering:", q)
		return nil
	})
	fmt.Println(st.Asked, st.Failed, err)
	// Output:
	// answering: Who won in 2020?
	// answering: And in 2021?
	// 2 0 <nil>
}
