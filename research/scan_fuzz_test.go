package research

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzScan checks the journal reader on any bytes: a *NotRecordError, or the
// records of the complete lines (the newest of each id) and at most a torn last
// line, which rescanning the complete lines alone does not see. It is seeded
// with the journals of testdata and with lines past its small line limit.
func FuzzScan(f *testing.F) {
	files, err := filepath.Glob("testdata/journal/*.jsonl")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	const limit = 1024
	huge := `{"id":"h","question":"Q?","answer":"` + strings.Repeat("x", limit) + "\"}\n"
	f.Add([]byte(huge))
	f.Add([]byte(`{"id":"1","status":"ok"}` + "\n" + huge[:limit+10]))
	f.Add([]byte(`{"id":"1","status":"ok"}` + "\n" + huge[:limit-10]))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scan(bytes.NewReader(data), limit)
		if err != nil {
			var nre *NotRecordError
			if !errors.As(err, &nre) || nre.Line < 1 || nre.Why == "" {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		complete, rest := data[:s.size], data[s.size:]
		switch {
		case s.size < 0 || s.size > int64(len(data)):
			t.Fatalf("size %d of %d bytes", s.size, len(data))
		case len(complete) > 0 && complete[len(complete)-1] != '\n':
			t.Fatalf("the complete records end in %q", complete[len(complete)-1])
		case bytes.IndexByte(rest, '\n') >= 0:
			t.Fatalf("a line end after the complete records: %q", rest)
		case (s.torn == nil) != (len(rest) == 0) || s.torn != nil && s.torn.Bytes != len(rest):
			t.Fatalf("torn %+v, %d bytes after the complete records", s.torn, len(rest))
		case s.torn != nil && !bytes.HasPrefix(rest, recordStart) && !bytes.HasPrefix(recordStart, rest):
			t.Fatalf("torn line %q does not begin as a record", rest)
		}
		// The newest head of each id, line by line.
		want := map[string]Head{}
		for l := range strings.SplitSeq(string(complete), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if len(l)+1 > limit {
				t.Fatalf("a line of %d bytes passed", len(l)+1)
			}
			var h struct {
				ID       *string
				Question string
				Status   string
			}
			if err := json.Unmarshal([]byte(l), &h); err != nil || h.ID == nil {
				t.Fatalf("line %q passed: %v", l, err)
			}
			want[*h.ID] = Head{*h.ID, h.Question, h.Status}
		}
		if !maps.Equal(s.newest, want) {
			t.Fatalf("newest %v, want %v", s.newest, want)
		}
		again, err := scan(bytes.NewReader(complete), limit)
		if err != nil || again.torn != nil || again.size != s.size || !maps.Equal(again.newest, s.newest) {
			t.Fatalf("rescanning the complete records: %+v, %v", again, err)
		}
	})
}
