package benchpeer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var job = Job{Model: "/m", Device: "cuda", PromptTokens: 512, GenTokens: 128, Runs: 3, Seqs: []int{1, 4, 16}}

func TestParse(t *testing.T) {
	f, err := os.Open("testdata/good.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pts, err := Parse(f, job)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		{Name: "exllamav2", Seqs: 1, PromptTokens: 512, GenTokens: 128, PrefillS: 0.170, DecodeMsToken: 18.8},
		{Name: "peer", Seqs: 4, DecodeMsToken: 25.5},
		{Name: "peer", Seqs: 16, PrefillS: 2.5},
	}
	if !slices.Equal(pts, want) {
		t.Errorf("Parse = %+v\nwant %+v", pts, want)
	}
}

// TestParseErrors: each malformed output is an ErrOutput naming its line and why.
func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"unknown_field", `line 1: json: unknown field "decode_ms"`},
		{"not_json", "line 1: invalid character 'l'"},
		{"twice", "line 2: a second line for 1 sequences"},
		{"other_seqs", "line 1: seqs 3 is not one of the batch sizes asked for, [1 4 16]"},
		{"other_prompt", "line 1: timed 256 prompt tokens, agent bench 512"},
		{"no_times", "line 1: neither prefill_s nor decode_ms_per_token"},
		{"negative", "line 1: times must be positive"},
		{"two_values", "line 1: more than one JSON value on the line"},
		{"empty", "no timings printed"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pts, err := Parse(f, job)
			if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, %v; want ErrOutput with %q", pts, err, tt.want)
			}
		})
	}
}

// FuzzParse: whatever a peer prints, Parse returns points that meet the schema
// or an ErrOutput, never a panic.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		f.Fatal(files, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		pts, err := Parse(strings.NewReader(s), job)
		if err != nil {
			if !errors.Is(err, ErrOutput) {
				t.Fatalf("error %v is no ErrOutput", err)
			}
			return
		}
		seen := map[int]bool{}
		for _, p := range pts {
			if !slices.Contains(job.Seqs, p.Seqs) || seen[p.Seqs] || p.Name == "" ||
				p.PrefillS < 0 || p.DecodeMsToken < 0 || p.PrefillS+p.DecodeMsToken == 0 {
				t.Fatalf("point %+v of %q breaks the schema", p, s)
			}
			seen[p.Seqs] = true
		}
	})
}

func TestBatchSizes(t *testing.T) {
	for _, tt := range []struct{ seqs, want []int }{
		{nil, []int{1}},
		{[]int{1, 4, 16}, []int{1, 4, 16}},
		{[]int{16, 4, 1, 4}, []int{1, 16, 4}},
	} {
		if got := BatchSizes(tt.seqs); !slices.Equal(got, tt.want) {
			t.Errorf("BatchSizes(%v) = %v, want %v", tt.seqs, got, tt.want)
		}
	}
}

func TestEnv(t *testing.T) {
	want := []string{"AGENT_BENCH_MODEL=/m", "AGENT_BENCH_DEVICE=cuda", "AGENT_BENCH_PROMPT=512",
		"AGENT_BENCH_GEN=128", "AGENT_BENCH_RUNS=3", "AGENT_BENCH_SEQS=1,4,16"}
	if got := job.Env(); !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
	auto := job
	auto.Device = ""
	if got := auto.Env()[1]; got != "AGENT_BENCH_DEVICE=auto" {
		t.Errorf("no device: %q, want auto", got)
	}
}

// TestRun runs the fake peer: it sees the job in its environment, its standard
// error reaches ours, its lines come back.
func TestRun(t *testing.T) {
	var stderr strings.Builder
	pts, err := Run(t.Context(), "sh testdata/peer.sh", job, &stderr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		{Name: "fake", Seqs: 1, PromptTokens: 512, GenTokens: 128, PrefillS: 0.1, DecodeMsToken: 11},
		{Name: "fake", Seqs: 4, PromptTokens: 512, GenTokens: 128, PrefillS: 0.4, DecodeMsToken: 14},
		{Name: "fake", Seqs: 16, PromptTokens: 512, GenTokens: 128, PrefillS: 0.16, DecodeMsToken: 26},
	}
	if !slices.Equal(pts, want) {
		t.Errorf("Run = %+v\nwant %+v", pts, want)
	}
	if got := stderr.String(); got != "fake peer: /m on cuda, seqs 1,4,16\n" {
		t.Errorf("stderr %q", got)
	}
}

// TestRunErrors: a command that fails, prints what is not the schema, floods its
// output or outlives its time limit is an error saying which.
func TestRunErrors(t *testing.T) {
	for _, tt := range []struct {
		name, command string
		timeout       time.Duration
		is            error
		want          string
	}{
		{"exit status", "echo 'no GPU here' >&2; exit 3", time.Minute, ErrFailed, "exit status 3: no GPU here"},
		{"silent failure", "exit 1", time.Minute, ErrFailed, "exit status 1: no error output"},
		{"no such command", "/nonexistent/peer", time.Minute, ErrFailed, "exit status 127"},
		{"bad json", "echo '{\"seqs\":1,'", time.Minute, ErrOutput, "line 1: unexpected EOF"},
		{"nothing", "true", time.Minute, ErrOutput, "no timings printed"},
		{"flood", "yes '{}' | head -c 2000000", time.Minute, ErrOutput, "more than 1048576 bytes"},
		{"timeout", "sleep 30", 100 * time.Millisecond, ErrTimeout, "timed out after 100ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := Run(t.Context(), tt.command, job, &strings.Builder{}, tt.timeout)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run(%q) = %v, %v; want %v with %q", tt.command, pts, err, tt.is, tt.want)
			}
		})
	}
}

// TestRunCancel: ending the context (agent bench's Ctrl-C) stops the peer and
// returns the context's error, not a failure of the peer.
func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, "echo started >&2; sleep 30", job, cancelWriter(cancel), time.Minute)
		done <- err
	}()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
		t.Errorf("Run after cancel = %v; want context.Canceled", err)
	}
}

// cancelWriter cancels once the peer has written to it: the peer is running.
type cancelWriter context.CancelFunc

func (w cancelWriter) Write(p []byte) (int, error) {
	w()
	return len(p), nil
}
