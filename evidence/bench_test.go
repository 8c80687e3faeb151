package evidence

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

// BenchmarkResolveOverhead measures the resolver's own cost per step with a tool
// that answers at once: scheduling, substitution, goroutine start and the result.
// "wide" plans have independent steps, "chain" plans make every step cite the one
// before it.
func BenchmarkResolveOverhead(b *testing.B) {
	instant := tools.Func{ToolName: "T", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "answer"}, nil
	}}
	reg, err := tools.NewRegistry(instant)
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []string{"wide", "chain"} {
		for _, n := range []int{10, 100} {
			var src strings.Builder
			for i := range n {
				input := fmt.Sprintf("query %d", i)
				if shape == "chain" && i > 0 {
					input = fmt.Sprintf("given #E%d", i-1)
				}
				fmt.Fprintf(&src, "#E%d = T[%s]\n", i, input)
			}
			plan, err := planparser.Parse(src.String(), planparser.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%d", shape, n), func(b *testing.B) {
				start := time.Now()
				for b.Loop() {
					if _, err := Resolve(context.Background(), reg, plan, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/step")
			})
		}
	}
}
