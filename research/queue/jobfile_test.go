package queue

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/internal/yamlpos"
)

var update = flag.Bool("update", false, "rewrite the expected errors of testdata/badjobs")

// TestReadJobFile reads the good job files of testdata/jobs.
func TestReadJobFile(t *testing.T) {
	tests := []struct {
		file string
		id   string
		qs   []string // id=text
	}{
		{"list.yaml", "capitals", []string{"1=What is the capital of France?", "de=What is the capital of Germany?"}},
		{"template.yaml", "template", []string{"fr=What is the capital of France?", "de=What is the capital of Germany?"}},
		{"templatejsonl.yaml", "t2", []string{"1=What is the capital of Italy?", "3=What is the capital of Spain?"}},
		{"file.yaml", "f", []string{"1=Who?", "2=What?"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			j, err := ReadJobFile(filepath.Join("testdata/jobs", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, q := range j.Questions {
				got = append(got, q.ID+"="+q.Text)
			}
			if j.ID != tt.id || strings.Join(got, "|") != strings.Join(tt.qs, "|") {
				t.Errorf("job %q %q, want %q %q", j.ID, got, tt.id, tt.qs)
			}
		})
	}
	j, err := ReadJobFile("testdata/jobs/list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := j.Spec
	if s.Limits.Timeout != 2*time.Minute || s.Limits.Parallel != 2 || len(s.Engine.Endpoints) != 2 ||
		s.Tools.Settings["DuckDuckGo"].TTL != 24*time.Hour || !s.Tools.Settings["Notify"].SideEffects {
		t.Errorf("spec %+v", s)
	}
	if s.Limits.lease() != 2*time.Minute+leaseGrace || s.Limits.maxAttempts() != DefaultMaxAttempts {
		t.Errorf("lease %s, attempts %d", s.Limits.lease(), s.Limits.maxAttempts())
	}
	if j.Digest() == (&Job{ID: j.ID, Questions: j.Questions[:1], Spec: j.Spec}).Digest() {
		t.Error("the digest does not see the questions")
	}
}

// TestJobFileErrors reads each bad job file of testdata/badjobs: every error
// is a *yamlpos.Error at file:line:col (or names the table's line), as the
// .err file beside it says.
func TestJobFileErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/badjobs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no bad jobs", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := ReadJobFile(f)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *yamlpos.Error
			if !errors.As(err, &ce) && !strings.Contains(err.Error(), ".csv:") {
				t.Errorf("%v (%T) names no place", err, err)
			}
			want := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				os.WriteFile(want, []byte(err.Error()+"\n"), 0o644)
			}
			data, _ := os.ReadFile(want)
			if got := err.Error() + "\n"; got != string(data) {
				t.Errorf("error:\n%s\nwant:\n%s", got, data)
			}
		})
	}
}
