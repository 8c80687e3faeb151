package research

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// brokenWriter fails every write after the first n bytes.
type brokenWriter struct {
	bytes.Buffer
	n int
}

var errClosed = errors.New("broken pipe")

func (w *brokenWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) > w.n {
		return 0, errClosed
	}
	return w.Buffer.Write(p)
}

func TestStream(t *testing.T) {
	w := &brokenWriter{n: 1 << 20}
	s := NewStream(w)
	if _, err := s.Plan(questions("a"), true); !errors.Is(err, ErrNoRecords) {
		t.Errorf("retrying failed questions on a stream: %v", err)
	}
	p, err := s.Plan(questions("a", "b"), false)
	if err != nil || len(p.Todo) != 2 || p.Questions != 2 || p.Skipped != 0 {
		t.Fatalf("%+v, %v", p, err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Append(context.Background(), sampleRecord(id, StatusOK)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(w.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("output:\n%s", w.String())
	}
	for i, id := range []string{"a", "b"} {
		var r Record
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil || r.ID != id {
			t.Errorf("line %d: %v, %+v", i+1, err, r)
		}
	}
	w.n = w.Len() // the reader went away
	err = s.Append(context.Background(), sampleRecord("c", StatusOK))
	if !errors.Is(err, errClosed) {
		t.Errorf("append to a closed pipe: %v", err)
	}
	w.n = 1 << 20
	if err2 := s.Append(context.Background(), sampleRecord("d", StatusOK)); err2 != err || strings.Contains(w.String(), `"id":"d"`) {
		t.Errorf("append after the failure: %v", err2)
	}
}
