package research

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/planner"
)

// copyJournal copies testdata/journal/name into a temporary folder.
func copyJournal(t *testing.T, name string) (path string, content []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/journal", name))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// TestOpen opens each journal of testdata: the records it holds, the torn
// record cut off, or the line that makes it no journal, left as it was.
func TestOpen(t *testing.T) {
	tests := []struct {
		file   string
		newest map[string]string // id: status
		torn   *Torn
		err    string
	}{
		{file: "ok.jsonl", newest: map[string]string{"1": "ok", "2": "failed"}},
		{file: "empty.jsonl", newest: map[string]string{}},
		{file: "blank.jsonl", newest: map[string]string{"1": "ok", "2": "ok"}},
		{file: "duplicates.jsonl", newest: map[string]string{"1": "ok", "2": "ok"}},
		{file: "torn.jsonl", newest: map[string]string{"1": "ok"}, torn: &Torn{Line: 2, Bytes: 48}},
		{file: "tornshort.jsonl", newest: map[string]string{"1": "ok"}, torn: &Torn{Line: 2, Bytes: 3}},
		{file: "garbage.jsonl", err: "garbage.jsonl:2: not a batch record (invalid character 'h'"},
		{file: "noid.jsonl", err: "noid.jsonl:2: not a batch record (it has no id)"},
		{file: "numberid.jsonl", err: "numberid.jsonl:1: not a batch record (json: cannot unmarshal number"},
		{file: "binary.jsonl", err: "binary.jsonl:1: not a batch record (the last line has no line end, and is not the beginning of a record)"},
		{file: "torngarbage.jsonl", err: "torngarbage.jsonl:2: not a batch record (the last line has no line end"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path, before := copyJournal(t, tt.file)
			j, err := Open(path)
			after, _ := os.ReadFile(path)
			if tt.err != "" {
				var nre *NotRecordError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &nre) {
					t.Fatalf("error %v, want a *NotRecordError with %q", err, tt.err)
				}
				if string(after) != string(before) {
					t.Errorf("the file changed to %q", after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			got := map[string]string{}
			for id := range tt.newest {
				if h, ok := j.Newest(id); ok && h.ID == id {
					got[id] = h.Status
				}
			}
			if !maps.Equal(got, tt.newest) || len(j.newest) != len(tt.newest) {
				t.Errorf("newest %v, want %v", j.newest, tt.newest)
			}
			switch {
			case (j.Torn == nil) != (tt.torn == nil) || tt.torn != nil && *j.Torn != *tt.torn:
				t.Errorf("torn %+v, want %+v", j.Torn, tt.torn)
			case tt.torn != nil && string(after) != string(before[:len(before)-tt.torn.Bytes]):
				t.Errorf("after the cut the file is %q", after)
			case tt.torn == nil && string(after) != string(before):
				t.Errorf("the file changed to %q", after)
			}
		})
	}
}

// TestScanLimit checks a line is bounded: at the limit it is read, past it the
// file is no journal, torn or not.
func TestScanLimit(t *testing.T) {
	rec := func(n int) string { // a record line of n bytes, its line end included
		head := `{"id":"1","answer":"`
		return head + strings.Repeat("x", n-len(head)-3) + "\"}\n"
	}
	const limit = 4096
	tests := []struct {
		name, content string
		err           string
	}{
		{"at the limit", rec(limit), ""},
		{"past the limit", rec(limit + 1), "1: not a batch record (the line is longer than 4096 bytes)"},
		{"torn past the limit", rec(100) + strings.TrimSuffix(rec(limit+2), "\n"), "2: not a batch record (the line is longer"},
		{"torn at the limit", rec(100) + strings.TrimSuffix(rec(limit+1), "\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scan(strings.NewReader(tt.content), limit)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func sampleRecord(id, status string) *Record {
	out := "Louise Glück won the 2020 Nobel Prize in Literature."
	return &Record{ID: id, Question: "Q " + id + "?", Status: status, Answer: "A " + id,
		Sources: []planner.Source{{URL: "https://example.com/" + id, Steps: []string{"#E1"}}},
		Steps: []Step{{&planner.StepTrace{Name: "#E1", Tool: "TextScraper", Input: "x", State: planner.StateDone,
			Output: out, Sources: []string{"https://example.com/" + id}}, len(out)}},
		EngineCalls: []planner.EngineCall{{Purpose: "plan", Tokens: 7, PromptTokens: 30}},
		Tokens:      Tokens{Prompt: 30, Generated: 7}, Started: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

// TestJournalAppendReadBack appends records and reads them back, in a second
// Open, whole and in order, the newest of an id counting.
func TestJournalAppendReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := []*Record{sampleRecord("a", StatusFailed), sampleRecord("b", StatusOK), sampleRecord("a", StatusOK)}
	recs[0].Error = strings.Repeat("search engine blocked the request; ", 20) // kept whole
	for _, r := range recs {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()

	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(recs), data)
	}
	for i, l := range lines {
		var got Record
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(recs[i])
		if again, _ := json.Marshal(&got); string(again) != string(want) {
			t.Errorf("line %d reads back as\n%s\nwant\n%s", i+1, again, want)
		}
	}
	j, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if h, _ := j.Newest("a"); h.Status != StatusOK || h.Question != "Q a?" || j.Torn != nil {
		t.Errorf("newest of a: %+v, torn %+v", h, j.Torn)
	}
	if _, ok := j.Newest("c"); ok {
		t.Error("c has a record")
	}
}

func TestJournalLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if j2, err := Open(path); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another batch job is writing "+path) {
		t.Errorf("second open: %v, want ErrLocked", err)
		if j2 != nil {
			j2.Close()
		}
	}
	j.Close()
	j, err = Open(path)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	j.Close()
}

func TestOpenNotRegular(t *testing.T) {
	for path, want := range map[string]string{"/dev/null": "/dev/null is not a regular file", t.TempDir(): "is a directory"} {
		if j, err := Open(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
			if j != nil {
				j.Close()
			}
		}
	}
}

func TestJournalPlan(t *testing.T) {
	path, _ := copyJournal(t, "duplicates.jsonl") // 1 ok; 2 bad_plan then ok
	content := `{"id":"3","question":"Q three?","status":"timeout"}` + "\n"
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(content)
	f.Close()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	qs := []Question{{"1", "Q one?", "q", 1}, {"2", "Q two?", "q", 2}, {"3", "Q three?", "q", 3}, {"4", "Q four?", "q", 4}}
	ids := func(qs []Question) (s []string) {
		for _, q := range qs {
			s = append(s, q.ID)
		}
		return s
	}
	for _, retry := range []bool{false, true} {
		p, err := j.Plan(qs, retry)
		if err != nil {
			t.Fatal(err)
		}
		want := Plan{Questions: 4, Skipped: 3, SkippedFailed: 1}
		todo := "4"
		if retry {
			want, todo = Plan{Questions: 4, Skipped: 2}, "3 4"
		}
		if got := strings.Join(ids(p.Todo), " "); got != todo || p.Questions != want.Questions ||
			p.Skipped != want.Skipped || p.SkippedFailed != want.SkippedFailed {
			t.Errorf("retry %v: todo %s, plan %+v; want %s, %+v", retry, got, p, todo, want)
		}
	}
	qs[1].Text = "Q deux?"
	_, err = j.Plan(qs, false)
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `q:2: id "2" was asked "Q two?" in `+path) {
		t.Errorf("conflict: %v", err)
	}
}

// TestJournalAppendFails checks a failed write breaks the journal: every later
// append fails with the first error, and nothing more is written.
func TestJournalAppendFails(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(context.Background(), sampleRecord("a", StatusOK)); err != nil {
		t.Fatal(err)
	}
	real := j.f
	j.f = full
	err = j.Append(context.Background(), sampleRecord("b", StatusOK))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("append to a full disk: %v", err)
	}
	j.f = real
	if err2 := j.Append(context.Background(), sampleRecord("c", StatusOK)); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("append after the failure: %v, want %v", err2, err)
	}
	j.Close()
	full.Close()
	j, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, ok := j.Newest("c"); ok || len(j.newest) != 1 {
		t.Errorf("records after the failure: %v", j.newest)
	}
}

// TestAppendLong checks a record too long for a line is written without its
// full parts, and one too long even so is refused, leaving the journal whole.
func TestAppendLong(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rec := sampleRecord("a", StatusOK)
	rec.Prompt = "the prompt"
	rec.Steps[0].Output, rec.Steps[0].Bytes = strings.Repeat("x", MaxRecord), MaxRecord
	if err := j.Append(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Steps[0].Output == "" || rec.Prompt == "" {
		t.Error("Append changed the caller's record")
	}
	big := sampleRecord("b", StatusOK)
	big.Answer = strings.Repeat("y", MaxRecord)
	if err := j.Append(context.Background(), big); !errors.Is(err, ErrTooLong) {
		t.Errorf("append of a record too long: %v", err)
	}
	data, _ := os.ReadFile(path)
	var got Record
	if err := json.Unmarshal(data, &got); err != nil || got.Prompt != "" || got.Steps[0].Output != "" ||
		got.Steps[0].Bytes != MaxRecord || got.Answer != rec.Answer || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("the slim record: %v, %d bytes", err, len(data))
	}
}

// TestJournalKill appends records in a child process and kills it (SIGKILL)
// at random moments, then resumes: every Open succeeds, and in the end every
// question has exactly one record.
func TestJournalKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	const n = 400
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKillChild$")
		cmd.Env = append(os.Environ(), "RESEARCH_KILL_CHILD="+path, fmt.Sprintf("RESEARCH_KILL_N=%d", n))
		return cmd
	}
	for round := range 12 {
		cmd := child()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+round*7%40) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		j, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %d records", round, len(j.newest))
		j.Close()
	}
	if out, err := child().CombinedOutput(); err != nil {
		t.Fatalf("the last child: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(path)
	seen := map[string]int{}
	for l := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %.80q", err, l)
		}
		seen[r.ID]++
	}
	for i := range n {
		if id := fmt.Sprint(i + 1); seen[id] != 1 {
			t.Errorf("id %s has %d records", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d ids, want %d", len(seen), n)
	}
}

// TestJournalKillChild is the child of TestJournalKill: it resumes the journal
// and appends a record of every question it lacks.
func TestJournalKillChild(t *testing.T) {
	path := os.Getenv("RESEARCH_KILL_CHILD")
	if path == "" {
		t.Skip("the child of TestJournalKill")
	}
	var n int
	fmt.Sscan(os.Getenv("RESEARCH_KILL_N"), &n)
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var qs []Question
	for i := range n {
		qs = append(qs, Question{ID: fmt.Sprint(i + 1), Text: fmt.Sprintf("Q %d?", i+1)})
	}
	p, err := j.Plan(qs, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range p.Todo {
		rec := sampleRecord(q.ID, StatusOK)
		rec.Question = q.Text
		rec.Answer = strings.Repeat("answer ", 10000)
		if err := j.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}
