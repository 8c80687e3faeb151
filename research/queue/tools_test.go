package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// countingTool answers its input in capitals and counts its calls and the
// idempotency keys it was given.
type countingTool struct {
	name string
	fail error

	mu    sync.Mutex
	calls int
	keys  []string
}

func (c *countingTool) Name() string        { return c.name }
func (c *countingTool) Description() string { return "counts" }
func (c *countingTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.keys = append(c.keys, tools.IdempotencyKey(ctx))
	return tools.Output{Text: strings.ToUpper(req.Input), Sources: []string{"https://example.com/" + req.Input}}, c.fail
}

func wrapped(t *testing.T, q *Queue, settings map[string]ToolSettings, ts ...tools.Tool) *tools.Registry {
	t.Helper()
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.Tools(Spec{Tools: ToolsSpec{Settings: settings}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func callTool(t *testing.T, ctx context.Context, reg *tools.Registry, name, input string) (tools.Output, error) {
	t.Helper()
	tool, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return tool.Call(ctx, tools.Request{Input: input, Raw: input})
}

// TestCache checks a cached tool is called once per input within its ttl,
// across questions, counting the hits; an expired entry is fetched again, a
// failure is not cached, and an uncached tool is called every time.
func TestCache(t *testing.T) {
	q := openQueue(t, sqliteDSN(t))
	search, fetch, plain := &countingTool{name: "Search"}, &countingTool{name: "Fetch", fail: errors.New("HTTP 503")}, &countingTool{name: "Plain"}
	reg := wrapped(t, q, map[string]ToolSettings{"Search": {TTL: time.Hour}, "Fetch": {TTL: time.Hour}}, search, fetch, plain)
	c1, c2 := &call{job: "j", question: "1"}, &call{job: "j", question: "2"}
	for _, c := range []*call{c1, c2, c1} {
		out, err := callTool(t, withCall(context.Background(), c), reg, "Search", "go")
		if err != nil || out.Text != "GO" || len(out.Sources) != 1 {
			t.Fatalf("%+v, %v", out, err)
		}
		callTool(t, withCall(context.Background(), c), reg, "Fetch", "x")
		callTool(t, withCall(context.Background(), c), reg, "Plain", "x")
	}
	if search.calls != 1 || c1.hits.Load() != 1 || c2.hits.Load() != 1 {
		t.Errorf("search called %d times, hits %d and %d", search.calls, c1.hits.Load(), c2.hits.Load())
	}
	if fetch.calls != 3 || plain.calls != 3 {
		t.Errorf("a failing cached tool called %d times, an uncached one %d", fetch.calls, plain.calls)
	}
	if _, err := q.b.exec(context.Background(), `UPDATE agent_research_cache SET expires_at = $1`, time.Now().Add(-time.Second).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	callTool(t, context.Background(), reg, "Search", "go")
	if search.calls != 2 {
		t.Errorf("after its ttl, search called %d times", search.calls)
	}
	if _, err := q.Tools(Spec{Tools: ToolsSpec{Settings: map[string]ToolSettings{"Nope": {TTL: time.Hour}}}}, reg); !errors.Is(err, tools.ErrUnknownTool) {
		t.Errorf("settings of an unknown tool: %v", err)
	}
}

// TestSideEffects checks a side-effecting tool gets one key per question and
// step, is called once for a step however often the step runs, answers a
// step done before from the store, and refuses a step whose call was started
// and never noted done (its worker died).
func TestSideEffects(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	notify := &countingTool{name: "Notify"}
	reg := wrapped(t, q, map[string]ToolSettings{"Notify": {SideEffects: true}}, notify)
	// One attempt at question 1 calls Notify[a] twice (two steps) and Notify[b].
	first := &call{job: "j", question: "1"}
	for _, in := range []string{"a", "a", "b"} {
		if _, err := callTool(t, withCall(ctx, first), reg, "Notify", in); err != nil {
			t.Fatal(err)
		}
	}
	if notify.calls != 3 || len(notify.keys) != 3 || notify.keys[0] == notify.keys[1] || notify.keys[0] == "" {
		t.Fatalf("calls %d, keys %q", notify.calls, notify.keys)
	}
	// The next attempt at the question makes the same steps: none is called.
	again := &call{job: "j", question: "1"}
	for _, in := range []string{"a", "a", "b"} {
		out, err := callTool(t, withCall(ctx, again), reg, "Notify", in)
		if err != nil || out.Text != strings.ToUpper(in) {
			t.Fatalf("%+v, %v", out, err)
		}
	}
	// Another question's step is its own.
	callTool(t, withCall(ctx, &call{job: "j", question: "2"}), reg, "Notify", "a")
	if notify.calls != 4 {
		t.Errorf("called %d times, want 4", notify.calls)
	}
	// A call started but never noted done: its outcome is unknown.
	if _, err := q.b.exec(ctx, `UPDATE agent_research_call SET state = $1`, callStarted); err != nil {
		t.Fatal(err)
	}
	_, err := callTool(t, withCall(ctx, &call{job: "j", question: "1"}), reg, "Notify", "a")
	if !errors.Is(err, ErrUnknownOutcome) || notify.calls != 4 {
		t.Errorf("after a crash mid-call: %v, %d calls", err, notify.calls)
	}
	// Outside a queue's question nothing is guarded.
	callTool(t, ctx, reg, "Notify", "a")
	if notify.calls != 5 {
		t.Errorf("called %d times outside a question", notify.calls)
	}
}
