package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseJob checks the job file parser on any bytes: an error, or a job
// with a valid id and questions each with an id of its own and a text. It is
// seeded with the job files of testdata, good and bad.
func FuzzParseJob(f *testing.F) {
	files, _ := filepath.Glob("testdata/*jobs/*.yaml")
	if len(files) == 0 {
		f.Fatal("no seeds")
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseJob("job.yaml", data, "testdata/jobs")
		if err != nil {
			if !strings.Contains(err.Error(), "job.yaml") {
				t.Fatalf("the error names no place in the file: %v", err)
			}
			return
		}
		if !validID.MatchString(j.ID) || len(j.Questions) == 0 {
			t.Fatalf("job %q with %d questions", j.ID, len(j.Questions))
		}
		seen := map[string]bool{}
		for _, q := range j.Questions {
			if q.ID == "" || strings.TrimSpace(q.Text) == "" || seen[q.ID] {
				t.Fatalf("question %+v", q)
			}
			seen[q.ID] = true
		}
	})
}

// FuzzReadTable checks the table reader on any bytes, as CSV and as JSONL:
// an error, or rows in line order, each with its fields, seeded with the
// tables of testdata.
func FuzzReadTable(f *testing.F) {
	for _, p := range []string{"testdata/jobs/countries.csv", "testdata/jobs/countries.jsonl"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(p, ".jsonl"))
	}
	f.Add([]byte("a,a\n1,2\n"), false)
	f.Add([]byte("a\n\"x\ny\"\n2\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		name := "t.csv"
		if jsonl {
			name = "t.jsonl"
		}
		rows, err := readTable(name, data)
		if err != nil {
			return
		}
		last := 0
		for _, r := range rows {
			if r.line <= last || r.fields == nil {
				t.Fatalf("row at line %d after %d: %v", r.line, last, r.fields)
			}
			last = r.line
		}
	})
}
