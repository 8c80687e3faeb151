package evidence

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/tooltest"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustParse(t testing.TB, src string) *planparser.Plan {
	t.Helper()
	p, err := planparser.Parse(src, planparser.Options{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func registry(t testing.TB, ts ...tools.Tool) *tools.Registry {
	t.Helper()
	r, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// events collects a run's events; OnEvent calls are serial but the test reads
// them after the run, so no lock is needed beyond the resolver's own.
type events struct {
	mu   sync.Mutex
	list []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.list = append(e.list, ev); e.mu.Unlock() }

func (e *events) kinds(step string) []EventKind {
	var out []EventKind
	for _, ev := range e.list {
		if ev.Step == step {
			out = append(out, ev.Kind)
		}
	}
	return out
}

func statuses(res *Result) string {
	var b strings.Builder
	for _, v := range res.Values {
		b.WriteString(v.Name + "=" + v.Status.String() + " ")
	}
	return strings.TrimSpace(b.String())
}

// TestParallelism runs plans of one-second fake tools in a synctest bubble, where
// the wall time is exact: independent steps overlap, a chain does not, and limits
// serialize as configured. Among dependencies that end together the critical path
// takes the first cited.
func TestParallelism(t *testing.T) {
	fanIn := `#E1 = S[a]
#E2 = S[b]
#E3 = S[c]
#E4 = S[#E1 #E2 #E3]
Final answer: #E4`
	tests := []struct {
		name     string
		plan     string
		opts     Options
		wall     time.Duration
		inFlight int
		critical []string
	}{
		{"independent overlap", fanIn, Options{}, 2 * time.Second, 3, []string{"#E1", "#E4"}},
		{"chain does not", "#E1 = S[a]\n#E2 = S[#E1]\n#E3 = S[#E2]", Options{}, 3 * time.Second, 1, []string{"#E1", "#E2", "#E3"}},
		{"global limit", fanIn, Options{Concurrency: 2}, 3 * time.Second, 2, []string{"#E3", "#E4"}},
		{"per-tool limit", fanIn, Options{ToolLimits: map[string]int{"S": 1}}, 4 * time.Second, 1, []string{"#E3", "#E4"}},
		{"limit of another tool", fanIn, Options{ToolLimits: map[string]int{"T": 1}}, 2 * time.Second, 3, []string{"#E1", "#E4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &tooltest.Recorder{Tool: &tooltest.Slow{ToolName: "S", Delay: time.Second}}
				res, err := Resolve(t.Context(), registry(t, rec), mustParse(t, tt.plan), tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Wall != tt.wall {
					t.Errorf("wall %v, want %v", res.Wall, tt.wall)
				}
				if got := rec.MaxInFlight(); got != tt.inFlight {
					t.Errorf("%d calls overlapped, want %d", got, tt.inFlight)
				}
				if !slices.Equal(res.CriticalPath, tt.critical) {
					t.Errorf("critical path %v, want %v", res.CriticalPath, tt.critical)
				}
			})
		})
	}
}

// TestRequest checks what a tool receives: the input with whole references
// substituted, the raw input, and the cited evidence with its provenance.
func TestRequest(t *testing.T) {
	src := tools.Func{ToolName: "Search", Fn: func(_ context.Context, req tools.Request) (tools.Output, error) {
		return tools.Output{Text: "result for " + req.Input, Sources: []string{"https://example.org/" + req.Input}}, nil
	}}
	rec := &tooltest.Recorder{Tool: &tooltest.Slow{ToolName: "LLM"}}
	plan := mustParse(t, `:evidence1: = Search[x]
:evidence10: = Search[y]
:evidence2: = LLM[Given :evidence10: and :evidence1: (again :evidence1:)]
Answer: :evidence2:`)
	res, err := Resolve(t.Context(), registry(t, src, rec), plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d LLM calls", len(calls))
	}
	req := calls[0].Req
	if want := "Given result for y and result for x (again result for x)"; req.Input != want {
		t.Errorf("Input = %q, want %q", req.Input, want)
	}
	if req.Raw != "Given :evidence10: and :evidence1: (again :evidence1:)" {
		t.Errorf("Raw = %q", req.Raw)
	}
	want := []tools.Cited{
		{Name: ":evidence10:", Tool: "Search", Input: "y", Text: "result for y", Sources: []string{"https://example.org/y"}},
		{Name: ":evidence1:", Tool: "Search", Input: "x", Text: "result for x", Sources: []string{"https://example.org/x"}},
	}
	if len(req.Cited) != 2 {
		t.Fatalf("Cited = %+v", req.Cited)
	}
	for i := range want {
		c := req.Cited[i]
		if c.Name != want[i].Name || c.Tool != want[i].Tool || c.Input != want[i].Input || c.Text != want[i].Text || !slices.Equal(c.Sources, want[i].Sources) {
			t.Errorf("Cited[%d] = %+v, want %+v", i, c, want[i])
		}
	}
	ans, err := res.Answer(plan.Answer)
	if err != nil || ans != "LLM(Given result for y and result for x (again result for x))" {
		t.Errorf("Answer = %q, %v", ans, err)
	}
	v := res.Get(":evidence1:")
	if v.Tool != "Search" || v.Input != "x" || v.Bytes != len("result for x") || v.Attempts != 1 || !v.Ok() {
		t.Errorf("provenance of :evidence1: = %+v", v)
	}
}

// TestFailures covers a failing tool under each OnFailure policy.
func TestFailures(t *testing.T) {
	plan := `#E1 = Bad[x]
#E2 = S[#E1]
#E3 = S[#E2]
#E4 = Slow[independent]
Final answer: #E3`
	tests := []struct {
		name     string
		policy   OnFailure
		statuses string
		wantErr  bool
		e2Input  string
	}{
		{"skip dependants", SkipDependants, "#E1=failed #E2=skipped #E3=skipped #E4=ok", false, ""},
		{"fail fast", FailFast, "#E1=failed #E2=skipped #E3=skipped #E4=failed", true, ""},
		{"run dependants", RunDependants, "#E1=failed #E2=ok #E3=ok #E4=ok", false,
			"(no evidence: #E1 failed: tooltest: fake failure)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev events
				// Bad fails after a second, when every step has been read.
				bad := tools.Func{ToolName: "Bad", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
					time.Sleep(time.Second)
					return tools.Output{}, tooltest.ErrFake
				}}
				reg := registry(t, bad, &tooltest.Slow{ToolName: "S"},
					&tooltest.Slow{ToolName: "Slow", Delay: time.Minute})
				res, err := Resolve(t.Context(), reg, mustParse(t, plan), Options{OnFailure: tt.policy, OnEvent: ev.add})
				if got := statuses(res); got != tt.statuses {
					t.Errorf("statuses %s, want %s", got, tt.statuses)
				}
				var se *StepError
				if tt.wantErr != errors.As(err, &se) || (tt.wantErr && (se.Step != "#E1" || !errors.Is(err, tooltest.ErrFake))) {
					t.Errorf("err = %v", err)
				}
				if !errors.Is(res.Get("#E1").Err, tooltest.ErrFake) {
					t.Errorf("#E1 error %v", res.Get("#E1").Err)
				}
				switch tt.policy {
				case SkipDependants:
					if r := res.Get("#E2").Reason; r != "depends on #E1, which failed" {
						t.Errorf("#E2 reason %q", r)
					}
					if r := res.Get("#E3").Reason; r != "depends on #E2, which was skipped" {
						t.Errorf("#E3 reason %q", r)
					}
					if k := ev.kinds("#E3"); !slices.Equal(k, []EventKind{EventSkipped}) {
						t.Errorf("#E3 events %v", k)
					}
					want := "the answer cites evidence that is missing: #E3 (skipped: depends on #E2, which was skipped)"
					if _, err := res.Answer(mustParse(t, plan).Answer); !errors.Is(err, ErrBadCitation) || err.Error() != want {
						t.Errorf("answer error %v, want %q", err, want)
					}
				case FailFast:
					if res.Wall != time.Second {
						t.Errorf("fail fast took %v", res.Wall)
					}
					if !errors.Is(res.Get("#E4").Err, context.Canceled) {
						t.Errorf("#E4 error %v, want cancelled", res.Get("#E4").Err)
					}
				case RunDependants:
					if got := res.Get("#E2").Input; got != tt.e2Input {
						t.Errorf("#E2 input %q, want %q", got, tt.e2Input)
					}
				}
				if k := ev.kinds("#E1"); !slices.Equal(k, []EventKind{EventStarted, EventFailed}) {
					t.Errorf("#E1 events %v", k)
				}
			})
		})
	}
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := registry(t, &tooltest.Slow{ToolName: "Hang", Delay: time.Hour}, &tooltest.Slow{ToolName: "S", Delay: time.Second})
		res, err := Resolve(t.Context(), reg, mustParse(t, "#E1 = Hang[x]\n#E2 = S[y]\n#E3 = S[#E1]"), Options{StepTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		v := res.Get("#E1")
		if !errors.Is(v.Err, ErrTimeout) || v.Duration != 5*time.Second {
			t.Errorf("#E1: %v after %v", v.Err, v.Duration)
		}
		if got := statuses(res); got != "#E1=failed #E2=ok #E3=skipped" {
			t.Errorf("statuses %s", got)
		}
		if res.Wall != 5*time.Second {
			t.Errorf("wall %v", res.Wall)
		}
	})
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		retries  int
		status   Status
		attempts int
		took     time.Duration
	}{
		{"recovers", 2, 3, OK, 3, 300 * time.Millisecond},
		{"gives up", 5, 2, Failed, 3, 300 * time.Millisecond},
		{"no retries", 1, 0, Failed, 1, 0},
		{"backoff capped", 4, 4, OK, 5, 100*time.Millisecond + 200*time.Millisecond + 250*time.Millisecond + 250*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev events
				flaky := &tooltest.Flaky{ToolName: "F", Failures: tt.failures}
				res, err := Resolve(t.Context(), registry(t, flaky), mustParse(t, "#E1 = F[x]"),
					Options{Retries: tt.retries, Backoff: 100 * time.Millisecond, MaxBackoff: 250 * time.Millisecond, OnEvent: ev.add})
				if err != nil {
					t.Fatal(err)
				}
				v := res.Get("#E1")
				if v.Status != tt.status || v.Attempts != tt.attempts || flaky.Calls() != tt.attempts || v.Duration != tt.took {
					t.Errorf("status %v attempts %d calls %d took %v", v.Status, v.Attempts, flaky.Calls(), v.Duration)
				}
				if tt.status == Failed && !errors.Is(v.Err, tooltest.ErrBusy) {
					t.Errorf("err %v", v.Err)
				}
				retries := 0
				for _, e := range ev.list {
					if e.Kind == EventRetrying {
						retries++
					}
				}
				if retries != tt.attempts-1 {
					t.Errorf("%d retry events, want %d", retries, tt.attempts-1)
				}
			})
		})
	}
}

// TestRetryAfter checks the wait between tries is the one the error asks for,
// beyond MaxBackoff, and that a wait past the step's time limit is not made.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		after    time.Duration
		timeout  time.Duration
		status   Status
		attempts int
		took     time.Duration
	}{
		{"honoured", 30 * time.Second, 0, OK, 3, 60 * time.Second},
		{"zero", 0, 0, OK, 3, 0},
		{"past the time limit", 30 * time.Second, 10 * time.Second, Failed, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev events
				calls := 0
				busy := tools.Func{ToolName: "B", Fn: func(context.Context, tools.Request) (tools.Output, error) {
					if calls++; calls < 3 {
						return tools.Output{}, tools.TransientAfter(tooltest.ErrBusy, tt.after)
					}
					return tools.Output{Text: "ok"}, nil
				}}
				res, err := Resolve(t.Context(), registry(t, busy), mustParse(t, "#E1 = B[x]"),
					Options{Retries: 3, Backoff: time.Second, MaxBackoff: 2 * time.Second, StepTimeout: tt.timeout, OnEvent: ev.add})
				if err != nil {
					t.Fatal(err)
				}
				v := res.Get("#E1")
				if v.Status != tt.status || v.Attempts != tt.attempts || v.Duration != tt.took {
					t.Errorf("status %v attempts %d took %v", v.Status, v.Attempts, v.Duration)
				}
				if tt.status == Failed && (!errors.Is(v.Err, tooltest.ErrBusy) || !strings.Contains(v.Err.Error(), "time limit")) {
					t.Errorf("err %v", v.Err)
				}
				for _, e := range ev.list {
					if e.Kind == EventRetrying && e.Delay != tt.after {
						t.Errorf("retry event waits %v, want %v", e.Delay, tt.after)
					}
				}
			})
		})
	}
}

// TestCancel cancels a run in the middle of its second step.
func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var ev events
		opts := Options{OnEvent: func(e Event) {
			ev.add(e)
			if e.Kind == EventStarted && e.Step == "#E2" {
				time.AfterFunc(500*time.Millisecond, cancel)
			}
		}}
		reg := registry(t, &tooltest.Slow{ToolName: "S", Delay: time.Second})
		res, err := Resolve(ctx, reg, mustParse(t, "#E1 = S[a]\n#E2 = S[#E1]\n#E3 = S[#E2]"), opts)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want canceled", err)
		}
		if got := statuses(res); got != "#E1=ok #E2=failed #E3=skipped" {
			t.Errorf("statuses %s", got)
		}
		if res.Wall != 1500*time.Millisecond {
			t.Errorf("wall %v, want 1.5s", res.Wall)
		}
		if r := res.Get("#E3").Reason; !strings.HasPrefix(r, "run stopped") && !strings.HasPrefix(r, "depends on #E2") {
			t.Errorf("#E3 reason %q", r)
		}
	})
}

// TestStreaming feeds steps one at a time, as a planner does while the model
// writes: the first step runs while the second has not been written yet.
func TestStreaming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := registry(t, &tooltest.Slow{ToolName: "S", Delay: time.Second})
		stream := planparser.NewStream(planparser.Options{Tools: []string{"S"}})
		steps := make(chan *planparser.Step)
		done := make(chan *Result)
		go func() {
			res, err := Run(t.Context(), reg, steps, Options{})
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		for _, chunk := range []string{"#E1 = S[a]\n#E2 = S[b", "]\n", "#E3 = S[#E1 #E2]\n"} {
			for _, st := range stream.Write(chunk) {
				steps <- st
			}
			time.Sleep(3 * time.Second) // the model is slow to write the next chunk
		}
		close(steps)
		res := <-done
		if _, err := stream.Close(); err != nil {
			t.Fatal(err)
		}
		starts := []time.Duration{res.Get("#E1").Start, res.Get("#E2").Start, res.Get("#E3").Start}
		if !slices.Equal(starts, []time.Duration{0, 3 * time.Second, 6 * time.Second}) {
			t.Errorf("steps started at %v", starts)
		}
	})
}

func TestInvalidSteps(t *testing.T) {
	tests := []struct {
		name  string
		steps []*planparser.Step
	}{
		{"duplicate", []*planparser.Step{{Name: "#E1", Tool: "S"}, {Name: "#E1", Tool: "S"}}},
		{"unknown dependency", []*planparser.Step{{Name: "#E1", Tool: "S", Input: "#E2", Deps: []string{"#E2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Resolve(t.Context(), registry(t, &tooltest.Slow{ToolName: "S"}), &planparser.Plan{Steps: tt.steps}, Options{})
			if !errors.Is(err, ErrInvalidStep) || res == nil {
				t.Errorf("err = %v, want ErrInvalidStep", err)
			}
		})
	}
}

func TestUnknownToolAndTrim(t *testing.T) {
	long := tools.Func{ToolName: "Long", Fn: func(context.Context, tools.Request) (tools.Output, error) {
		return tools.Output{Text: strings.Repeat("x", 1000)}, nil
	}}
	res, err := Resolve(t.Context(), registry(t, long), mustParse(t, "#E1 = Gone[x]\n#E2 = Long[#E1]\n#E3 = Long[y]"), Options{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Get("#E1").Err, tools.ErrUnknownTool) || res.Get("#E2").Status != Skipped {
		t.Errorf("statuses %s, #E1 err %v", statuses(res), res.Get("#E1").Err)
	}
	v := res.Get("#E3")
	if len(v.Text) > 100 || v.Bytes != 1000 || !v.Trimmed() {
		t.Errorf("#E3 kept %d of %d bytes", len(v.Text), v.Bytes)
	}
}

// TestUnknownToolFailsFast checks a step whose tool does not exist stops a
// FailFast run like any other failure.
func TestUnknownToolFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := registry(t, &tooltest.Slow{ToolName: "S", Delay: time.Minute})
		res, err := Resolve(t.Context(), reg, mustParse(t, "#E1 = S[a]\n#E2 = Gone[x]\n#E3 = S[b]"), Options{OnFailure: FailFast})
		var se *StepError
		if !errors.As(err, &se) || se.Step != "#E2" || !errors.Is(err, tools.ErrUnknownTool) {
			t.Errorf("err = %v, want a StepError for #E2", err)
		}
		if got := statuses(res); got != "#E1=failed #E2=failed #E3=skipped" {
			t.Errorf("statuses %s", got)
		}
		if res.Wall != 0 {
			t.Errorf("the run went on for %v", res.Wall)
		}
	})
}

func TestAnswerWithoutCitation(t *testing.T) {
	res, err := Resolve(t.Context(), registry(t, &tooltest.Slow{ToolName: "S"}), mustParse(t, "#E1 = S[x]\nAnswer: Paris"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Answer(mustParse(t, "#E1 = S[x]\nAnswer: Paris").Answer); !errors.Is(err, ErrNoCitation) {
		t.Errorf("err = %v, want ErrNoCitation", err)
	}
	if _, err := res.Answer(nil); !errors.Is(err, ErrNoCitation) {
		t.Errorf("nil answer: err = %v", err)
	}
}

// TestStopAccountsForEveryStep stops a run at once: every step of the plan is in
// the result, skipped.
func TestStopAccountsForEveryStep(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := Resolve(ctx, registry(t, &tooltest.Slow{ToolName: "S"}), mustParse(t, "#E1 = S[a]\n#E2 = S[b]\n#E3 = S[#E1]"), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	for _, v := range res.Values {
		if v.Status == OK {
			t.Errorf("%s ran after cancellation", v.Name)
		}
	}
	if len(res.Values) != 3 {
		t.Errorf("%d values, want 3", len(res.Values))
	}
}

// TestCallIdentity checks each tool call's context names its step and attempt,
// and every event carries the resolved input and the run's start.
func TestCallIdentity(t *testing.T) {
	var mu sync.Mutex
	var seen []tools.CallInfo
	busy := true
	echo := tools.Func{ToolName: "T", Fn: func(ctx context.Context, req tools.Request) (tools.Output, error) {
		c, ok := tools.CallInfoFrom(ctx)
		if !ok {
			t.Error("a tool call without CallInfo")
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c)
		if c.Step == "#E2" && busy {
			busy = false
			return tools.Output{}, tools.TransientAfter(tooltest.ErrBusy, 0)
		}
		return tools.Output{Text: "<" + req.Input + ">"}, nil
	}}
	var ev events
	res, err := Resolve(t.Context(), registry(t, echo), mustParse(t, "#E1 = T[a]\n#E2 = T[b #E1]"),
		Options{Concurrency: 1, Retries: 1, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	want := []tools.CallInfo{{Step: "#E1", Tool: "T", Attempt: 1}, {Step: "#E2", Tool: "T", Attempt: 1}, {Step: "#E2", Tool: "T", Attempt: 2}}
	if !slices.Equal(seen, want) {
		t.Errorf("calls %v, want %v", seen, want)
	}
	if res.Begun.IsZero() {
		t.Error("the result has no start time")
	}
	for _, e := range ev.list {
		if !e.Begun.Equal(res.Begun) {
			t.Errorf("%s %s: begun %v, want %v", e.Step, e.Kind, e.Begun, res.Begun)
		}
		if want := map[string]string{"#E1": "a", "#E2": "b <a>"}[e.Step]; e.Input != want {
			t.Errorf("%s %s: input %q, want %q", e.Step, e.Kind, e.Input, want)
		}
	}
	if n := len(ev.list); n != 5 { // started, finished; started, retrying, finished
		t.Errorf("%d events", n)
	}
}
