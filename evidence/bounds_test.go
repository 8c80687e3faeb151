package evidence

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rewoo-agent/agent/tools"
)

// allocated returns the bytes fn allocates on the heap, in all.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// echo returns its input and counts the bytes it received.
func echo(received *atomic.Int64) tools.Tool {
	return tools.Func{ToolName: "Echo", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		received.Add(int64(len(req.Input)))
		return tools.Output{Text: req.Input}, nil
	}}
}

// TestHostileAnswer is the security review's plan: 125 KB whose answer cites
// one 40 KB piece of evidence 31,000 times, 1.24 GB once substituted (it gave a
// 1.31 GB answer at 4.8 GB resident). The answer is refused with ErrTooLarge,
// and the run allocates megabytes, not gigabytes.
func TestHostileAnswer(t *testing.T) {
	big := tools.Func{ToolName: "Big", Fn: func(context.Context, tools.Request) (tools.Output, error) {
		return tools.Output{Text: strings.Repeat("Louise Glück ", 40<<10/13)}, nil
	}}
	src := "#E1 = Big[x]\nAnswer: " + strings.Repeat("#E1 ", 31000) + "\n"
	if len(src) < 124_000 {
		t.Fatalf("the plan is %d bytes", len(src))
	}
	plan := mustParse(t, src)
	var answer string
	var err error
	n := allocated(func() {
		var res *Result
		res, err = Resolve(t.Context(), registry(t, big), plan, Options{})
		if err != nil {
			t.Fatal(err)
		}
		answer, err = res.Answer(plan.Answer)
	})
	if !errors.Is(err, ErrTooLarge) || answer != "" {
		t.Errorf("answer of %d bytes, err %v", len(answer), err)
	}
	if !strings.Contains(fmt.Sprint(err), "31000 references would make 1367130999 bytes") {
		t.Errorf("the error does not say how large: %v", err)
	}
	t.Logf("resolving the plan and its answer allocated %.1f MB", float64(n)/(1<<20))
	// The unbounded answer alone is 1.37 GB. Bounded, the run takes about 5 MB,
	// some 50 under the race detector, whose sync.Pool keeps little.
	if n > 100<<20 {
		t.Errorf("resolving the plan allocated %d MB", n>>20)
	}
}

// TestExpansionBounds has plans that grow by substitution: a step that doubles
// the one before it, and many steps that each cite the same evidence ten times.
// The step that passes a bound fails with ErrTooLarge, naming itself, and never
// runs; the tools receive little.
func TestExpansionBounds(t *testing.T) {
	var doubling strings.Builder
	fmt.Fprintf(&doubling, "#E1 = Echo[%s]\n", strings.Repeat("x", 1000))
	for k := 2; k <= 40; k++ {
		fmt.Fprintf(&doubling, "#E%d = Echo[#E%d #E%d]\n", k, k-1, k-1)
	}
	var wide strings.Builder
	fmt.Fprintf(&wide, "#E1 = Echo[%s]\n", strings.Repeat("x", 1000))
	for k := 2; k <= 100; k++ {
		fmt.Fprintf(&wide, "#E%d = Echo[%s]\n", k, strings.Repeat("#E1 ", 10))
	}
	tests := []struct {
		name     string
		plan     string
		opts     Options
		fails    string // the first step that fails
		received int64  // at most, by the tools
	}{
		// E7's input is 64 KB; E8's would be 128 KB.
		{"input bound", doubling.String(), Options{MaxInputBytes: 100_000}, "#E8", 130_000},
		{"default input bound", doubling.String(), Options{}, "#E14", 2 * DefaultMaxInputBytes},
		// Each step's input is 10 KB: the tenth wide step, #E11, would pass 100 KB.
		{"expansion bound", wide.String(), Options{MaxExpansion: 100_000, Concurrency: 1}, "#E11", 100_000 + 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var received atomic.Int64
			res, err := Resolve(t.Context(), registry(t, echo(&received)), mustParse(t, tt.plan), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			first := ""
			for _, v := range res.Values {
				if v.Status == Failed && first == "" {
					first = v.Name
					if !errors.Is(v.Err, ErrTooLarge) || !strings.HasPrefix(v.Err.Error(), v.Name+"'s input: ") || v.Attempts != 0 || v.Input != "" {
						t.Errorf("%s: attempts %d, err %v", v.Name, v.Attempts, v.Err)
					}
				}
			}
			if first != tt.fails {
				t.Errorf("the first step to fail is %q, want %s (%s)", first, tt.fails, statuses(res))
			}
			if got := received.Load(); got > tt.received {
				t.Errorf("the tools received %d bytes, want at most %d", got, tt.received)
			}
		})
	}
}

// TestNoBounds checks negative bounds turn the bounds off.
func TestNoBounds(t *testing.T) {
	var received atomic.Int64
	src := "#E1 = Echo[" + strings.Repeat("x", 1000) + "]\n#E2 = Echo[" + strings.Repeat("#E1 ", 100) + "]\nAnswer: #E2 #E2"
	plan := mustParse(t, src)
	res, err := Resolve(t.Context(), registry(t, echo(&received)), plan, Options{MaxInputBytes: -1, MaxExpansion: -1})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := res.Answer(plan.Answer)
	if err != nil || len(answer) != 2*100*1001+1 {
		t.Errorf("answer of %d bytes, %v", len(answer), err)
	}
}
