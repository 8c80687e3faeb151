package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/planner"
)

func init() {
	register(command{
		name:    "batch",
		summary: "answer a file of questions unattended, one JSON record per question, resumable",
		run:     runBatch,
	})
}

// Statuses of a batch record.
const (
	batchOK      = "ok"
	batchFailed  = "failed"
	batchBadPlan = "bad_plan"
	batchTimeout = "timeout"
)

// batchRecord is one line of a batch's output: a finished question. Its fields
// are those of ask --json where they mean the same.
type batchRecord struct {
	ID       string           `json:"id"`
	Question string           `json:"question"`
	Status   string           `json:"status"`
	Answer   string           `json:"answer"`
	Sources  []planner.Source `json:"sources"`
	Error    string           `json:"error,omitempty"`
	// Prompt is written with --full only.
	Prompt      string               `json:"prompt,omitempty"`
	Plan        string               `json:"plan"`
	Diagnostics []string             `json:"diagnostics,omitempty"`
	Steps       []batchStep          `json:"steps"`
	EngineCalls []planner.EngineCall `json:"engine_calls"`
	Tokens      batchTokens          `json:"tokens"`
	Started     time.Time            `json:"started"`
	Timings     planner.Timings      `json:"timings"`
}

// batchStep is a step's trace; its output and resolved input are kept with
// --full only, Bytes says how long the output was.
type batchStep struct {
	*planner.StepTrace
	Bytes int `json:"bytes"`
}

// batchTokens are the tokens of all a question's engine calls.
type batchTokens struct {
	Prompt    int `json:"prompt"`
	Generated int `json:"generated"`
}

// batchQuestion is one question of a batch's input.
type batchQuestion struct {
	id, text string
	line     int
}

// maxBatchLine bounds one line of a batch's input.
const maxBatchLine = 1 << 20

func runBatch(ctx context.Context, std stdio, args []string) error {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(std.err)
	conf := addConfigFlags(fs)
	parallel := fs.Int("parallel", 1, "questions answered at once (a local model's engine calls take turns; tool work overlaps)")
	deadline := fs.Duration("deadline", 0, "time limit of the whole job, e.g. 8h; unfinished questions stay unrecorded for the next run; 0 is none")
	retryFailed := fs.Bool("retry-failed", false, "run again the questions whose newest record is not ok")
	full := fs.Bool("full", false, "keep each step's output and resolved input, and the prompt, in the records")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr, only the summary")
	fs.Usage = func() {
		fmt.Fprintln(std.err, "usage: agent batch [flags] QUESTIONS OUT.jsonl\n\n"+
			"QUESTIONS (- for stdin) holds one question per line (its id is the line number),\n"+
			"or JSONL objects {\"id\": ..., \"question\": ...}. Each finished question is appended\n"+
			"to OUT.jsonl as one JSON line; ids already there are skipped, so running the same\n"+
			"command again after a stop finishes the job. The per-question time limit is --timeout.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitError{2, errors.New("batch: want QUESTIONS and OUT.jsonl")}
	}
	if *parallel < 1 {
		return exitError{2, fmt.Errorf("batch: --parallel %d: want 1 or more", *parallel)}
	}
	inPath, outPath := fs.Arg(0), fs.Arg(1)
	questions, err := readBatchInput(std.in, inPath)
	if err != nil {
		return exitError{2, err}
	}
	cfg, err := conf.load()
	if err != nil {
		return err
	}
	out, err := openBatchOutput(outPath, inPath, std.err)
	if err != nil {
		return exitError{2, err}
	}
	defer out.f.Close()

	var todo []batchQuestion
	skipped, skippedFailed := 0, 0
	for _, q := range questions {
		prev, ok := out.newest[q.id]
		switch {
		case !ok:
			todo = append(todo, q)
			continue
		case prev.Question != q.text:
			return exitError{2, fmt.Errorf("%s:%d: id %q was asked %q in %s; give the job a new output file, or new ids", inPath, q.line, q.id, prev.Question, outPath)}
		case prev.Status != batchOK && *retryFailed:
			todo = append(todo, q)
			continue
		case prev.Status != batchOK:
			skippedFailed++
		}
		skipped++
	}

	job := &batchJob{std: std, out: out, total: len(todo), full: *full, quiet: *quiet, start: time.Now()}
	fmt.Fprintf(std.err, "batch: %d questions, %d to run (%d at a time), %d recorded in %s before\n",
		len(questions), len(todo), min(*parallel, max(len(todo), 1)), skipped, outPath)
	runErr := job.run(ctx, cfg, todo, *parallel, *deadline)

	// The summary.
	var b strings.Builder
	fmt.Fprintf(&b, "batch: %d of %d run in %.1fs: %d ok, %d failed", job.recorded, len(todo),
		time.Since(job.start).Seconds(), job.count[batchOK], job.recorded-job.count[batchOK])
	if n := job.recorded - job.count[batchOK]; n > 0 {
		fmt.Fprintf(&b, " (%d bad_plan, %d timeout)", job.count[batchBadPlan], job.count[batchTimeout])
	}
	fmt.Fprintf(&b, "; %d skipped", skipped)
	if skippedFailed > 0 {
		fmt.Fprintf(&b, " (%d of them failed before; --retry-failed runs them again)", skippedFailed)
	}
	fmt.Fprintf(&b, "; tokens: %d prompt, %d generated\n", job.tokens.Prompt, job.tokens.Generated)
	if left := len(todo) - job.recorded; left > 0 && runErr == nil {
		fmt.Fprintf(&b, "%d questions have no record (%d stopped while running, %d not started); run the same command again to answer them\n",
			left, job.stopped, left-job.stopped)
	}
	io.WriteString(std.err, b.String())

	switch {
	case runErr != nil:
		return runErr
	case ctx.Err() != nil:
		return exitError{130, errors.New("batch: interrupted")}
	case job.recorded < len(todo):
		return fmt.Errorf("batch: the job's deadline (%s, --deadline) passed", *deadline)
	case job.count[batchOK] < job.recorded || skippedFailed > 0:
		return errors.New("batch: some questions failed (their records say why)")
	}
	return nil
}

// batchJob runs a batch's questions and keeps its tally.
type batchJob struct {
	std   stdio
	out   *batchOutput
	total int
	full  bool
	quiet bool
	start time.Time

	mu       sync.Mutex // guards the tally
	recorded int
	stopped  int // questions the job's end cut short, left unrecorded
	count    map[string]int
	tokens   batchTokens
}

// run answers todo, parallel at a time, until all are recorded or ctx ends (or
// the deadline passes). The error is only for what stops the whole job, such as
// an output file that cannot be written.
func (j *batchJob) run(ctx context.Context, cfg *configs.Config, todo []batchQuestion, parallel int, deadline time.Duration) error {
	j.count = map[string]int{}
	if len(todo) == 0 {
		return nil
	}
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deadline)
		defer cancel()
	}
	a, err := openAsker(ctx, cfg, j.std.err)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while loading: nothing ran
		}
		return err
	}
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, q := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return j.answer(gctx, a, cfg, q) })
	}
	return g.Wait()
}

// answer answers q and records it, unless the job's end cut it short.
func (j *batchJob) answer(ctx context.Context, a *asker, cfg *configs.Config, q batchQuestion) error {
	if ctx.Err() != nil {
		return nil
	}
	qctx, cancel, limit := withTimeLimit(ctx, cfg)
	defer cancel()
	started := time.Now()
	tr, err := a.ask(qctx, q.text, false, nil)
	if err != nil && ctx.Err() != nil {
		j.mu.Lock()
		j.stopped++
		j.mu.Unlock()
		return nil
	}
	rec := batchRecord{ID: q.id, Question: q.text, Status: batchOK, Sources: []planner.Source{},
		Steps: []batchStep{}, EngineCalls: []planner.EngineCall{}, Started: started.UTC()}
	switch {
	case err == nil:
	case timedOut(qctx, limit):
		rec.Status = batchTimeout
	case errors.Is(err, planner.ErrBadPlan):
		rec.Status = batchBadPlan
	default:
		rec.Status = batchFailed
	}
	if err != nil {
		rec.Error = err.Error()
	}
	if tr != nil {
		j.fill(&rec, tr)
	}
	if err := j.out.write(&rec); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recorded++
	j.count[rec.Status]++
	j.tokens.Prompt += rec.Tokens.Prompt
	j.tokens.Generated += rec.Tokens.Generated
	if !j.quiet {
		what := askClipLine(rec.Answer, 80)
		if rec.Status != batchOK {
			what = askClipLine(rec.Error, 100)
		}
		fmt.Fprintf(j.std.err, "[%7.1fs] %d/%d %-8s %s (%.2fs, %d steps, %d tokens): %s\n",
			time.Since(j.start).Seconds(), j.recorded, j.total, rec.Status, q.id,
			rec.Timings.Total, len(rec.Steps), rec.Tokens.Prompt+rec.Tokens.Generated, what)
	}
	return nil
}

// fill copies the trace of a question into its record.
func (j *batchJob) fill(rec *batchRecord, tr *planner.Trace) {
	if tr.Answer != nil {
		rec.Answer, rec.Sources = tr.Answer.Text, tr.Answer.Sources
	}
	if j.full {
		rec.Prompt = tr.Prompt
	}
	rec.Plan, rec.Diagnostics, rec.Timings = tr.Plan, tr.Diagnostics, tr.Timings
	for _, s := range tr.Steps {
		st := *s
		if !j.full {
			st.Output, st.ResolvedInput = "", ""
		}
		rec.Steps = append(rec.Steps, batchStep{&st, len(s.Output)})
	}
	rec.EngineCalls = append(rec.EngineCalls, tr.EngineCalls...)
	for _, c := range tr.EngineCalls {
		rec.Tokens.Prompt += c.PromptTokens
		rec.Tokens.Generated += c.Tokens
	}
}

// readBatchInput reads the questions of the file at path, or of stdin for "-":
// one question per line, the line number its id, or JSONL objects {"id",
// "question"} when the first non-empty line starts with "{". Empty lines are
// skipped; every malformed line and repeated id is reported with its line.
func readBatchInput(stdin io.Reader, path string) ([]batchQuestion, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		defer f.Close()
		r = f
	} else {
		path = "stdin"
	}
	var (
		qs       []batchQuestion
		problems []string
		jsonl    bool
		first    = true
		seen     = map[string]int{}
		line     int
	)
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: ", path, line)+fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBatchLine)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.ToValidUTF8(sc.Text(), string(utf8.RuneError)))
		if text == "" {
			continue
		}
		if first {
			jsonl, first = strings.HasPrefix(text, "{"), false
		}
		q := batchQuestion{id: strconv.Itoa(line), text: text, line: line}
		if jsonl {
			var err error
			if q.id, q.text, err = parseBatchLine(text); err != nil {
				fail("%v", err)
				continue
			}
		}
		if prev, dup := seen[q.id]; dup {
			fail("id %q repeats line %d", q.id, prev)
			continue
		}
		seen[q.id] = line
		qs = append(qs, q)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		line++
		fail("the line is longer than %d bytes", maxBatchLine)
	} else if err != nil {
		return nil, fmt.Errorf("batch: reading %s: %w", path, err)
	}
	if len(problems) > 0 {
		const show = 20
		if n := len(problems) - show; n > 0 {
			problems = append(problems[:show], fmt.Sprintf("and %d more problems", n))
		}
		return nil, fmt.Errorf("batch: the questions cannot be read:\n%s", strings.Join(problems, "\n"))
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("batch: %s has no questions", path)
	}
	return qs, nil
}

// parseBatchLine reads one JSONL line of a batch's input: an object with an id
// (a string or a number) and a question. Other fields are the job's own and
// ignored.
func parseBatchLine(text string) (id, question string, err error) {
	var obj struct {
		ID       json.RawMessage `json:"id"`
		Question *string         `json:"question"`
	}
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return "", "", fmt.Errorf("not a JSON object: %v", err)
	}
	switch raw := bytes.TrimSpace(obj.ID); {
	case len(raw) == 0 || string(raw) == "null":
		return "", "", errors.New(`no "id"`)
	case raw[0] == '"':
		json.Unmarshal(raw, &id)
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		id = string(raw)
	default:
		return "", "", fmt.Errorf(`"id" is %s: want a string or a number`, raw)
	}
	if strings.TrimSpace(id) == "" {
		return "", "", errors.New(`the "id" is empty`)
	}
	if obj.Question == nil || strings.TrimSpace(*obj.Question) == "" {
		return "", "", errors.New(`no "question"`)
	}
	return id, strings.TrimSpace(*obj.Question), nil
}

// batchOutput is a batch's output file, open for appending, and what it held.
type batchOutput struct {
	path string
	mu   sync.Mutex // one write at a time; guards size and broken
	f    *os.File
	size int64 // the length of the complete records
	// broken is why a write failed; none follows it.
	broken error
	// newest is the newest record of each id.
	newest map[string]batchRecordHead
}

// batchRecordHead is the part of a record a batch reads back.
type batchRecordHead struct {
	ID       *string `json:"id"`
	Question string  `json:"question"`
	Status   string  `json:"status"`
}

// openBatchOutput opens the output at path, creating it, and reads its records.
// A last line without its line end is a record a killed run did not finish
// writing: it is reported on progress and cut off, and its question runs again.
// Any other line that is not a record stops the job: the file is not one a batch
// wrote, and it is left as it is.
func openBatchOutput(path, inPath string, progress io.Writer) (*batchOutput, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("batch: %s is not a regular file", path)
	}
	if err := lockOutput(f); err != nil {
		f.Close()
		return nil, err
	}
	o := &batchOutput{path: path, f: f, newest: map[string]batchRecordHead{}}
	if inPath != "-" {
		if a, b := statOrNil(inPath), statOrNil(path); a != nil && b != nil && os.SameFile(a, b) {
			f.Close()
			return nil, fmt.Errorf("batch: %s is both the questions and the output", path)
		}
	}
	if err := o.read(progress); err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

func statOrNil(path string) os.FileInfo {
	fi, _ := os.Stat(path)
	return fi
}

func (o *batchOutput) read(progress io.Writer) error {
	r := bufio.NewReader(o.f)
	var offset int64
	for line := 1; ; line++ {
		data, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(data) == 0 {
				o.size = offset
				return nil
			}
			// A record cut short: the line end is the last byte each write puts down.
			fmt.Fprintf(progress, "batch: %s:%d: an incomplete record (%d bytes; a run stopped while writing it) is cut off; its question runs again\n",
				o.path, line, len(data))
			o.size = offset
			if err := o.f.Truncate(offset); err != nil {
				return fmt.Errorf("batch: cutting the incomplete record off %s: %w", o.path, err)
			}
			return o.f.Sync()
		}
		if err != nil {
			return fmt.Errorf("batch: reading %s: %w", o.path, err)
		}
		offset += int64(len(data))
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		var h batchRecordHead
		if err := json.Unmarshal(data, &h); err != nil || h.ID == nil {
			why := "it has no id"
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("batch: %s:%d: not a batch record (%s); the file is left as it is: give another output file or mend this one", o.path, line, why)
		}
		o.newest[*h.ID] = h
	}
}

// write appends rec as one line with a single write, then syncs the file, so a
// kill at any moment leaves either the whole record or a last line without its
// line end, which the next run cuts off. After a failed write (a full disk) the
// part written is cut off again and no other write is tried.
func (o *batchOutput) write(rec *batchRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("batch: encoding the record of %q: %w", rec.ID, err)
	}
	data = append(data, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken != nil {
		return o.broken
	}
	_, err = o.f.Write(data)
	if err == nil {
		err = o.f.Sync()
	}
	if err != nil {
		o.f.Truncate(o.size)
		o.broken = fmt.Errorf("batch: writing %s: %w", o.path, err)
		return o.broken
	}
	o.size += int64(len(data))
	return nil
}
