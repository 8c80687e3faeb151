// Package benchpeer runs the peer agent bench times beside its own engine: a
// command the user gives (e.g. a script that loads the same checkpoint into
// ExLlamaV2), run in the same invocation once agent bench has given the device
// back, told what to measure through environment variables, and read back as
// JSON lines on its standard output, one per batch size it timed.
//
// The command runs as sh -c COMMAND with the environment of agent bench plus
//
//	AGENT_BENCH_MODEL   the checkpoint folder agent bench loaded
//	AGENT_BENCH_DEVICE  the device it ran on (--device: auto, cuda, cuda:N, cpu)
//	AGENT_BENCH_PROMPT  prompt tokens (positions 0 .. PROMPT-1, fed in one batch)
//	AGENT_BENCH_GEN     tokens decoded one step at a time after it (positions PROMPT ..)
//	AGENT_BENCH_RUNS    timed runs agent bench took the median of
//	AGENT_BENCH_SEQS    the batch sizes, comma-separated, 1 first (e.g. 1,4,16)
//
// and prints lines like
//
//	{"name":"exllamav2","seqs":1,"prompt_tokens":512,"gen_tokens":128,"prefill_s":0.170,"decode_ms_per_token":18.8}
//
// (Point has the schema). Anything else on standard output is an error: progress
// goes to standard error, which agent bench passes through.
package benchpeer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job is what agent bench measured, for the peer to measure the same.
type Job struct {
	Model        string // checkpoint folder
	Device       string // as --device gives it; "" is auto
	PromptTokens int
	GenTokens    int
	Runs         int
	Seqs         []int // batch sizes, 1 first
}

// BatchSizes is the batch sizes of a job for agent bench's --seqs: 1 (agent
// bench always times one sequence), then seqs in order, each once.
func BatchSizes(seqs []int) []int {
	out := []int{1}
	for _, n := range seqs {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Env is the job as the environment variables the command receives.
func (j Job) Env() []string {
	seqs := make([]string, len(j.Seqs))
	for i, n := range j.Seqs {
		seqs[i] = strconv.Itoa(n)
	}
	return []string{
		"AGENT_BENCH_MODEL=" + j.Model,
		"AGENT_BENCH_DEVICE=" + cmp.Or(j.Device, "auto"),
		"AGENT_BENCH_PROMPT=" + strconv.Itoa(j.PromptTokens),
		"AGENT_BENCH_GEN=" + strconv.Itoa(j.GenTokens),
		"AGENT_BENCH_RUNS=" + strconv.Itoa(j.Runs),
		"AGENT_BENCH_SEQS=" + strings.Join(seqs, ","),
	}
}

// Point is one line of the peer's output: its times at one batch size. Seqs is
// required; at least one of PrefillS and DecodeMsToken; a field not listed here
// is an error (a misspelt one would otherwise vanish).
type Point struct {
	// Name names the peer in the report ("peer" when empty), e.g. "exllamav2".
	Name string `json:"name,omitempty"`
	// Seqs is the sequences run at once, one of AGENT_BENCH_SEQS.
	Seqs int `json:"seqs"`
	// PromptTokens and GenTokens, when given, must be AGENT_BENCH_PROMPT and
	// AGENT_BENCH_GEN: a peer that timed something else is not compared.
	PromptTokens int `json:"prompt_tokens,omitempty"`
	GenTokens    int `json:"gen_tokens,omitempty"`
	// PrefillS is the seconds to feed every sequence's prompt (median run).
	PrefillS float64 `json:"prefill_s,omitempty"`
	// DecodeMsToken is the milliseconds of one decode step of all Seqs sequences,
	// the time between one sequence's tokens (median run).
	DecodeMsToken float64 `json:"decode_ms_per_token,omitempty"`
}

// ErrOutput marks output that is not the JSON lines Point describes.
var ErrOutput = errors.New("peer output")

// ErrFailed marks a peer command that could not start or exited with an error.
var ErrFailed = errors.New("peer command failed")

// ErrTimeout marks a peer command killed at its time limit.
var ErrTimeout = errors.New("peer command timed out")

// maxOutput bounds the standard output kept: far more than any table of times.
const maxOutput = 1 << 20

// Parse reads the peer's output: one Point a line, blank lines skipped, checked
// against job (a batch size it was not asked for, a second line for one, other
// prompt or generated tokens, times that are not finite and positive are
// errors wrapping ErrOutput, with the line number). It returns the points in
// the order printed, at least one.
func Parse(r io.Reader, job Job) ([]Point, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var pts []Point
	seen := map[int]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := parseLine(line, job)
		if err == nil && seen[p.Seqs] {
			err = fmt.Errorf("a second line for %d sequences", p.Seqs)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w: %.200q", ErrOutput, i+1, err, line)
		}
		seen[p.Seqs] = true
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("%w: no timings printed (want a JSON line per batch size on standard output)", ErrOutput)
	}
	return pts, nil
}

func parseLine(line string, job Job) (Point, error) {
	var p Point
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, err
	}
	if dec.More() {
		return p, errors.New("more than one JSON value on the line")
	}
	switch {
	case !slices.Contains(job.Seqs, p.Seqs):
		return p, fmt.Errorf("seqs %d is not one of the batch sizes asked for, %v", p.Seqs, job.Seqs)
	case p.PromptTokens != 0 && p.PromptTokens != job.PromptTokens:
		return p, fmt.Errorf("timed %d prompt tokens, agent bench %d", p.PromptTokens, job.PromptTokens)
	case p.GenTokens != 0 && p.GenTokens != job.GenTokens:
		return p, fmt.Errorf("timed %d generated tokens, agent bench %d", p.GenTokens, job.GenTokens)
	case p.PrefillS == 0 && p.DecodeMsToken == 0:
		return p, errors.New("neither prefill_s nor decode_ms_per_token")
	case !(p.PrefillS >= 0) || math.IsInf(p.PrefillS, 0) || !(p.DecodeMsToken >= 0) || math.IsInf(p.DecodeMsToken, 0):
		return p, fmt.Errorf("times must be positive: prefill_s %g, decode_ms_per_token %g", p.PrefillS, p.DecodeMsToken)
	}
	if p.Name == "" {
		p.Name = "peer"
	}
	return p, nil
}

// Run runs command (sh -c) for job, with its standard error copied to stderr,
// killed (with every process it started) when ctx ends or after timeout, and
// parses its standard output. Errors wrap ErrFailed (with the end of its error
// output), ErrTimeout, ErrOutput, or ctx's error when ctx ended first.
func Run(ctx context.Context, command string, job Job, stderr io.Writer, timeout time.Duration) ([]Point, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "sh", "-c", command)
	cmd.Env = append(os.Environ(), job.Env()...)
	var out bytes.Buffer
	tail := &tailBuffer{max: 2 << 10}
	cmd.Stdout = &limited{w: &out, n: maxOutput}
	cmd.Stderr = io.MultiWriter(stderr, tail)
	cmd.WaitDelay = time.Second // a process that keeps the pipes open must not keep Wait waiting
	inGroup(cmd)
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%q: %w", command, ctx.Err())
	case tctx.Err() != nil:
		return nil, fmt.Errorf("%q: %w after %s", command, ErrTimeout, timeout)
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		msg := strings.TrimSpace(tail.String())
		if msg == "" {
			msg = "no error output"
		}
		return nil, fmt.Errorf("%q: %w: %w: %s", command, ErrFailed, err, msg)
	case out.Len() >= maxOutput:
		return nil, fmt.Errorf("%q: %w: more than %d bytes on standard output", command, ErrOutput, maxOutput)
	}
	pts, err := Parse(&out, job)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", command, err)
	}
	return pts, nil
}

// limited writes the first n bytes to w and drops the rest, so a peer that
// floods its output costs no more than n bytes of memory.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	keep := min(len(p), l.n)
	if keep > 0 {
		if _, err := l.w.Write(p[:keep]); err != nil {
			return 0, err
		}
		l.n -= keep
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it (about: it trims once it
// holds twice that).
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if len(t.buf) > t.max {
		return "..." + strings.ToValidUTF8(string(t.buf[len(t.buf)-t.max:]), "")
	}
	return string(t.buf)
}
