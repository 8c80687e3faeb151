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
