package research

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

// fakeAsker answers with answer and keeps the questions asked.
type fakeAsker struct {
	answer func(ctx context.Context, q string) (*planner.Trace, error)

	mu    sync.Mutex
	asked []string
}

var _ Asker = (*fakeAsker)(nil)

func (f *fakeAsker) Ask(ctx context.Context, q string) (*planner.Trace, error) {
	f.mu.Lock()
	f.asked = append(f.asked, q)
	f.mu.Unlock()
	return f.answer(ctx, q)
}

func (f *fakeAsker) open(context.Context) (Asker, error) { return f, nil }

func (f *fakeAsker) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(f.asked))
}

// memStore keeps records in memory; fail, when not nil, decides an append fails.
type memStore struct {
	fail func(rec *Record) error

	mu   sync.Mutex
	recs []*Record
}

func (m *memStore) Append(_ context.Context, rec *Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(rec); err != nil {
			return err
		}
	}
	m.recs = append(m.recs, rec)
	return nil
}

func (m *memStore) byID() map[string]*Record {
	out := map[string]*Record{}
	for _, r := range m.recs {
		out[r.ID] = r
	}
	return out
}

func questions(texts ...string) []Question {
	var qs []Question
	for i, t := range texts {
		qs = append(qs, Question{ID: fmt.Sprint(i + 1), Text: t, File: "q", Line: i + 1})
	}
	return qs
}

// sleep waits d, or returns ctx's cause.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("planning: %w", context.Cause(ctx))
	}
}

func answered(q string) *planner.Trace {
	return &planner.Trace{Question: q, Prompt: "prompt of " + q, Plan: "#E1 = Search[" + q + "]",
		Steps:       []*planner.StepTrace{{Name: "#E1", Tool: "Search", Input: q, State: planner.StateDone, Output: "found " + q, ResolvedInput: q}},
		Answer:      &planner.Answer{Text: "answer to " + q, Sources: []planner.Source{{URL: "https://example.com/", Steps: []string{"#E1"}}}},
		EngineCalls: []planner.EngineCall{{Purpose: "plan", PromptTokens: 10, Tokens: 3}, {Purpose: "answer", PromptTokens: 20, Tokens: 4}}}
}

// TestRunStatuses runs a question of each ending: answered, a bad plan, a
// failure, the per-question time limit (with and without the cause in the
// asker's error).
func TestRunStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		longWhy := "search engine blocked the request: " + strings.Repeat("HTTP 403 from https://html.duckduckgo.com/html/ ", 10)
		a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
			switch q {
			case "ok?":
				return answered(q), nil
			case "bad?":
				return &planner.Trace{Plan: "nonsense", Diagnostics: []string{"1:1: no steps"}}, fmt.Errorf("%w:\n1:1: no steps", planner.ErrBadPlan)
			case "fail?":
				tr := answered(q)
				tr.Answer, tr.Steps[0].State, tr.Steps[0].Error = nil, planner.StateFailed, longWhy
				return tr, fmt.Errorf("%w: #E1: %s", planner.ErrAnswer, longWhy)
			case "slow?":
				return &planner.Trace{Plan: "half"}, sleep(ctx, time.Hour)
			}
			if q == "empty?" {
				return &planner.Trace{Plan: "p"}, nil
			}
			<-ctx.Done()
			return nil, ctx.Err() // "quiet?": the error does not say why
		}}
		st := &memStore{}
		var seen []string
		r := &Runner{Parallel: 6, Timeout: 3 * time.Second, TimeoutSetting: "--timeout",
			OnRecord: func(rec *Record, tl Tally) { seen = append(seen, fmt.Sprintf("%d %s", tl.Recorded, rec.Status)) }}
		start := time.Now()
		s, err := r.Run(t.Context(), a.open, st, &Plan{Questions: 6, Todo: questions("ok?", "bad?", "fail?", "slow?", "quiet?", "empty?")})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("the job took %v, want the time limit, 3s", took)
		}
		recs := st.byID()
		for id, want := range map[string]string{"1": StatusOK, "2": StatusBadPlan, "3": StatusFailed, "4": StatusTimeout, "5": StatusTimeout, "6": StatusFailed} {
			if r := recs[id]; r == nil || r.Status != want || (want == StatusOK) != (r.Error == "") {
				t.Errorf("record %s: %+v, want status %s", id, r, want)
			}
		}
		ok := recs["1"]
		if ok.Answer != "answer to ok?" || len(ok.Sources) != 1 || ok.Tokens != (Tokens{30, 7}) || len(ok.EngineCalls) != 2 ||
			ok.Prompt != "" || ok.Steps[0].Output != "" || ok.Steps[0].ResolvedInput != "" || ok.Steps[0].Bytes != len("found ok?") ||
			ok.Question != "ok?" || !ok.Started.Equal(start) {
			t.Errorf("the ok record (not full): %+v", ok)
		}
		if r := recs["2"]; len(r.Diagnostics) != 1 || r.Plan != "nonsense" || !strings.Contains(r.Error, "no steps") {
			t.Errorf("the bad plan's record: %+v", r)
		}
		if r := recs["3"]; !strings.HasSuffix(r.Error, longWhy) || r.Steps[0].Error != longWhy {
			t.Errorf("the failure's reason is not whole: %q", r.Error)
		}
		if r := recs["4"]; r.Error != "planning: ran out of time: the limit is 3s (--timeout)" || r.Plan != "half" {
			t.Errorf("the timed-out record: %+v", r)
		}
		if r := recs["5"]; r.Error != "ran out of time: the limit is 3s (--timeout): context deadline exceeded" {
			t.Errorf("the timed-out record whose error does not say why: %q", r.Error)
		}
		if r := recs["6"]; r.Error != ErrNoAnswer.Error() || r.Plan != "p" {
			t.Errorf("the record of a question with neither answer nor error: %+v", r)
		}
		want := Tally{Total: 6, Recorded: 6, OK: 1, BadPlan: 1, Failed: 2, Timeout: 2, Tokens: Tokens{60, 14}}
		if s.Tally != want || s.Stop != nil || !errors.Is(s.Err(), ErrFailed) {
			t.Errorf("tally %+v, stop %v, err %v; want %+v and ErrFailed", s.Tally, s.Stop, s.Err(), want)
		}
		// The four that end at once come in any order, then the two time limits.
		if len(seen) != 6 || !strings.HasPrefix(seen[0], "1 ") || seen[4] != "5 timeout" || seen[5] != "6 timeout" {
			t.Errorf("OnRecord saw %v", seen)
		}
	})
}

// TestRunFull checks Full keeps the prompt and the steps' outputs.
func TestRunFull(t *testing.T) {
	a := &fakeAsker{answer: func(_ context.Context, q string) (*planner.Trace, error) { return answered(q), nil }}
	st := &memStore{}
	r := &Runner{Full: true}
	s, err := r.Run(t.Context(), a.open, st, &Plan{Todo: questions("Q?")})
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if rec := st.recs[0]; rec.Prompt != "prompt of Q?" || rec.Steps[0].Output != "found Q?" || rec.Steps[0].ResolvedInput != "Q?" {
		t.Errorf("full record: %+v", rec)
	}
}

// TestRunParallel checks Parallel questions run at once, never more.
func TestRunParallel(t *testing.T) {
	for _, parallel := range []int{0, 1, 3} {
		t.Run(fmt.Sprint(parallel), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				inFlight, most := 0, 0
				a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
					mu.Lock()
					inFlight++
					most = max(most, inFlight)
					mu.Unlock()
					time.Sleep(time.Second) // time passes once every question that can start has
					mu.Lock()
					inFlight--
					mu.Unlock()
					return answered(q), nil
				}}
				st := &memStore{}
				s, err := (&Runner{Parallel: parallel}).Run(t.Context(), a.open, st, &Plan{Todo: questions("a", "b", "c", "d", "e", "f", "g")})
				if err != nil || s.Err() != nil || len(st.recs) != 7 {
					t.Fatalf("%v, %v, %d records", err, s.Err(), len(st.recs))
				}
				if want := max(parallel, 1); most != want {
					t.Errorf("at most %d questions at once, want %d", most, want)
				}
			})
		})
	}
}

// TestRunDeadline checks the job's deadline leaves the question it cuts short
// and those not started unrecorded, not timed out.
func TestRunDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
			return answered(q), sleep(ctx, 4*time.Second)
		}}
		st := &memStore{}
		start := time.Now()
		s, err := (&Runner{Deadline: 10 * time.Second, Timeout: time.Minute}).Run(t.Context(), a.open, st, &Plan{Todo: questions("a", "b", "c", "d")})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("the job took %v, want its deadline", took)
		}
		if len(st.recs) != 2 || s.Recorded != 2 || s.Stopped != 1 || s.Unrecorded() != 2 || !errors.Is(s.Stop, ErrDeadline) ||
			!errors.Is(s.Err(), ErrDeadline) || !slices.Equal(a.questions(), []string{"a", "b", "c"}) {
			t.Errorf("records %d, summary %+v, err %v, asked %v", len(st.recs), s, s.Err(), a.questions())
		}
	})
}

// TestRunInterruptResume stops a job on a journal midway (as SIGINT does) and
// resumes it: the resumed job asks exactly the questions without a record.
func TestRunInterruptResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		qs := questions("a", "b", "c", "d", "e", "f")
		a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
			d := time.Second
			if q == "b" {
				d = time.Hour
			}
			return answered(q), sleep(ctx, d)
		}}
		ctx, cancel := context.WithCancel(t.Context())
		j, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := j.Plan(qs, false)
		r := &Runner{Parallel: 2, OnRecord: func(rec *Record, tl Tally) {
			if tl.Recorded == 2 {
				cancel() // Ctrl-C with "b" in flight
			}
		}}
		s, err := r.Run(ctx, a.open, j, p)
		j.Close()
		if err != nil || s.Recorded != 2 || s.Stopped != 1 || !errors.Is(s.Err(), ErrInterrupted) {
			t.Fatalf("%v, summary %+v, err %v", err, s, s.Err())
		}
		first := a.questions()

		a.asked = nil
		j, err = Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		p, _ = j.Plan(qs, false)
		if p.Skipped != 2 || len(p.Todo) != 4 {
			t.Fatalf("resumed plan %+v", p)
		}
		var want []string
		for _, q := range p.Todo {
			want = append(want, q.Text)
		}
		s, err = (&Runner{Parallel: 3, Timeout: time.Minute}).Run(t.Context(), a.open, j, p)
		if err != nil || s.Recorded != 4 {
			t.Fatalf("%v, %+v", err, s)
		}
		if got := a.questions(); !slices.Equal(got, want) || !slices.Contains(got, "b") {
			t.Errorf("the resumed job asked %v, want %v (the first asked %v)", got, want, first)
		}
	})
}

// TestRunRetryFailed checks retryFailed runs the failed question alone again and
// the newest record counts.
func TestRunRetryFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	qs := questions("a", "b")
	better := false
	a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
		if q == "b" && !better {
			return nil, errors.New("no luck")
		}
		return answered(q), nil
	}}
	run := func(retry bool) *Summary {
		j, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		p, err := j.Plan(qs, retry)
		if err != nil {
			t.Fatal(err)
		}
		s, err := (&Runner{}).Run(t.Context(), a.open, j, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := run(false); !errors.Is(s.Err(), ErrFailed) || s.Failed != 1 {
		t.Fatalf("first run: %+v", s)
	}
	if s := run(false); !errors.Is(s.Err(), ErrFailed) || s.Recorded != 0 || s.Plan.SkippedFailed != 1 {
		t.Fatalf("second run, not retrying: %+v", s)
	}
	better, a.asked = true, nil
	if s := run(true); s.Err() != nil || s.Recorded != 1 || !slices.Equal(a.asked, []string{"b"}) {
		t.Fatalf("retry: %+v, asked %v", s, a.asked)
	}
	if s := run(false); s.Err() != nil || s.Plan.Skipped != 2 {
		t.Fatalf("after the retry: %+v", s)
	}
}

// TestRunStoreFails checks a store that cannot be written stops the job.
func TestRunStoreFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		full := errors.New("no space left on device")
		st := &memStore{fail: func(rec *Record) error {
			if rec.Question == "b" {
				return full
			}
			return nil
		}}
		a := &fakeAsker{answer: func(ctx context.Context, q string) (*planner.Trace, error) {
			return answered(q), sleep(ctx, time.Second)
		}}
		s, err := (&Runner{}).Run(t.Context(), a.open, st, &Plan{Todo: questions("a", "b", "c", "d")})
		if !errors.Is(err, full) || s.Recorded != 1 || slices.Contains(a.questions(), "c") {
			t.Errorf("%v, summary %+v, asked %v", err, s, a.questions())
		}
	})
}

// TestRunOpen checks the asker is opened only for a job with questions, under
// its deadline, and that an opener's failure stops the job.
func TestRunOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opened := 0
		noOpen := func(context.Context) (Asker, error) { opened++; return nil, errors.New("opened") }
		s, err := (&Runner{}).Run(t.Context(), noOpen, &memStore{}, &Plan{Questions: 2, Skipped: 2})
		if err != nil || opened != 0 || s.Err() != nil {
			t.Errorf("a job with nothing to do: %v, opened %d times, %v", err, opened, s.Err())
		}
		if _, err := (&Runner{}).Run(t.Context(), noOpen, &memStore{}, &Plan{Todo: questions("a")}); err == nil || err.Error() != "opened" {
			t.Errorf("an opener that fails: %v", err)
		}
		slow := func(ctx context.Context) (Asker, error) { <-ctx.Done(); return nil, context.Cause(ctx) }
		s, err = (&Runner{Deadline: time.Minute}).Run(t.Context(), slow, &memStore{}, &Plan{Todo: questions("a")})
		if err != nil || !errors.Is(s.Err(), ErrDeadline) || s.Unrecorded() != 1 {
			t.Errorf("the deadline passing while opening: %v, %+v", err, s)
		}
	})
}

func TestSummaryErr(t *testing.T) {
	tests := []struct {
		name string
		s    Summary
		want error
	}{
		{"all ok", Summary{Plan: &Plan{Skipped: 3}, Tally: Tally{Total: 1, Recorded: 1, OK: 1}}, nil},
		{"nothing to do", Summary{Plan: &Plan{}}, nil},
		{"a failure", Summary{Plan: &Plan{}, Tally: Tally{Total: 2, Recorded: 2, OK: 1, Timeout: 1}}, ErrFailed},
		{"an old failure", Summary{Plan: &Plan{SkippedFailed: 1}, Tally: Tally{Total: 1, Recorded: 1, OK: 1}}, ErrFailed},
		{"interrupted", Summary{Plan: &Plan{}, Tally: Tally{Total: 2, Recorded: 1, Failed: 1}, Stop: context.Canceled}, ErrInterrupted},
		{"the deadline", Summary{Plan: &Plan{}, Tally: Tally{Total: 2}, Stop: ErrDeadline}, ErrDeadline},
	}
	for _, tt := range tests {
		if got := tt.s.Err(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
