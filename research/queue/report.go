package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/internal/termtext"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/research"
)

// Summary is what a job did, over its results.
type Summary struct {
	Job       string `json:"job"`
	Questions int    `json:"questions"`
	Results   int    `json:"results"`
	// OK counts the ok results, Partial those of them with a failed or
	// skipped step (an answer from part of the evidence), Failed the others
	// (failed, bad_plan, timeout), each status also in ByStatus.
	OK       int             `json:"ok"`
	Partial  int             `json:"partial"`
	Failed   int             `json:"failed"`
	ByStatus map[string]int  `json:"by_status"`
	Tokens   research.Tokens `json:"tokens"`
	Cache    int             `json:"cache_hits"`
	Seconds  float64         `json:"question_seconds"` // the questions' own times, summed
	Elapsed  float64         `json:"elapsed_seconds"`  // from submitting to the last result
	Workers  map[string]int  `json:"workers"`          // results by worker
	Retried  int             `json:"retried"`          // results after an attempt that was cut off
	Missing  []string        `json:"missing,omitempty"`
	Started  time.Time       `json:"submitted"`
	Finished time.Time       `json:"last_result,omitzero"`
}

// partial says an ok record had a step that did not finish.
func partial(r *research.Record) bool {
	for _, s := range r.Steps {
		if s.StepTrace != nil && (s.State == planner.StateFailed || s.State == planner.StateSkipped) {
			return true
		}
	}
	return false
}

// Summarize reads a job's summary.
func (q *Queue) Summarize(ctx context.Context, job string) (*Summary, []*Result, error) {
	j, err := q.Job(ctx, job)
	if err != nil {
		return nil, nil, err
	}
	res, err := q.Results(ctx, job)
	if err != nil {
		return nil, nil, err
	}
	order := map[string]int{}
	for i, qu := range j.Questions {
		order[qu.ID] = i
	}
	slices.SortFunc(res, func(a, b *Result) int { return order[a.Record.ID] - order[b.Record.ID] })
	s := &Summary{Job: job, Questions: len(j.Questions), Results: len(res), ByStatus: map[string]int{},
		Workers: map[string]int{}, Started: j.Submitted}
	have := map[string]bool{}
	for _, r := range res {
		rec := &r.Record
		have[rec.ID] = true
		s.ByStatus[rec.Status]++
		switch {
		case rec.Status != research.StatusOK:
			s.Failed++
		case partial(rec):
			s.OK++
			s.Partial++
		default:
			s.OK++
		}
		s.Tokens.Prompt += rec.Tokens.Prompt
		s.Tokens.Generated += rec.Tokens.Generated
		s.Cache += r.CacheHits
		s.Seconds += r.Finished.Sub(rec.Started).Seconds()
		s.Workers[r.Worker]++
		if r.Attempt > 1 {
			s.Retried++
		}
		if r.Finished.After(s.Finished) {
			s.Finished = r.Finished
		}
	}
	for _, qu := range j.Questions {
		if !have[qu.ID] {
			s.Missing = append(s.Missing, qu.ID)
		}
	}
	if !s.Finished.IsZero() {
		s.Elapsed = s.Finished.Sub(s.Started).Seconds()
	}
	return s, res, nil
}

// WriteMarkdown writes the summary as Markdown.
func (s *Summary) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Research job %s\n\n", s.Job)
	fmt.Fprintf(&b, "| questions | results | ok | partial | failed | prompt tokens | generated tokens | cache hits | time |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %d | %d | %.1fs |\n\n", s.Questions, s.Results, s.OK, s.Partial, s.Failed,
		s.Tokens.Prompt, s.Tokens.Generated, s.Cache, s.Elapsed)
	for _, st := range slices.Sorted(mapsKeys(s.ByStatus)) {
		fmt.Fprintf(&b, "- %s: %d\n", st, s.ByStatus[st])
	}
	if len(s.Missing) > 0 {
		fmt.Fprintf(&b, "- without a result yet: %d (%s)\n", len(s.Missing), strings.Join(clip(s.Missing, 20), ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func clip(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], "...")
}

// WriteMarkdown writes one question's result as Markdown: the answer, its
// sources, the plan, each step and the timings.
func (r *Result) WriteMarkdown(w io.Writer) error {
	rec := &r.Record
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", oneLine(rec.Question))
	fmt.Fprintf(&b, "- id: `%s`\n- status: **%s**\n", rec.ID, rec.Status)
	if rec.Error != "" {
		fmt.Fprintf(&b, "- error: %s\n", oneLine(rec.Error))
	}
	fmt.Fprintf(&b, "- tokens: %d prompt, %d generated; cache hits: %d; attempt %d on %s\n",
		rec.Tokens.Prompt, rec.Tokens.Generated, r.CacheHits, r.Attempt, r.Worker)
	fmt.Fprintf(&b, "- time: %.2fs (plan done at %.2fs)\n\n", rec.Timings.Total, rec.Timings.PlanDone)
	if rec.Answer != "" {
		fmt.Fprintf(&b, "## Answer\n\n%s\n\n", rec.Answer)
	}
	if len(rec.Sources) > 0 {
		b.WriteString("## Sources\n\n")
		for _, s := range rec.Sources {
			fmt.Fprintf(&b, "- <%s>", s.URL)
			if len(s.Steps) > 0 {
				fmt.Fprintf(&b, " (%s)", strings.Join(s.Steps, ", "))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if rec.Plan != "" {
		fmt.Fprintf(&b, "## Plan\n\n```\n%s\n```\n\n", strings.TrimRight(rec.Plan, "\n"))
	}
	if len(rec.Steps) > 0 {
		b.WriteString("## Steps\n\n| step | tool | input | state | seconds | bytes |\n|---|---|---|---|---|---|\n")
		for _, s := range rec.Steps {
			if s.StepTrace == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %d |\n", s.Name, s.Tool, cell(s.Input), s.State, s.Duration, s.Bytes)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }

// resultJSON is a question's result as a file: the record and where it was
// answered.
type resultJSON struct {
	*research.Record
	CacheHits int       `json:"cache_hits"`
	Attempt   int       `json:"attempt"`
	Worker    string    `json:"worker"`
	Finished  time.Time `json:"finished"`
}

// MarshalJSON is the record's fields and the result's beside them.
func (r *Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{&r.Record, r.CacheHits, r.Attempt, r.Worker, r.Finished})
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// fileName is a file name for a question id: the id where it is safe, else
// the id made safe and a hash of it, so that two ids never share a name.
func fileName(id string) string {
	safe := unsafeName.ReplaceAllString(id, "_")
	if safe == id && id != "." && id != ".." && len(id) <= 100 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%.80s-%s", safe, hex.EncodeToString(sum[:4]))
}

// Export writes job's results into dir: per question ID.md and ID.json, and
// summary.md and summary.json; it gives the summary.
func (q *Queue) Export(ctx context.Context, job, dir string) (*Summary, error) {
	s, res, err := q.Summarize(ctx, job)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, r := range res {
		name := filepath.Join(dir, fileName(r.Record.ID))
		if err := writeFile(name+".md", r.WriteMarkdown); err != nil {
			return nil, err
		}
		if err := writeFile(name+".json", func(w io.Writer) error { return writeJSON(w, r) }); err != nil {
			return nil, err
		}
	}
	if err := writeFile(filepath.Join(dir, "summary.md"), s.WriteMarkdown); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error { return writeJSON(w, s) }); err != nil {
		return nil, err
	}
	return s, nil
}

// ExportJSONL writes job's results to w as JSONL, one result a line in the
// job's order: agent batch's records, with the result's fields beside them.
func (q *Queue) ExportJSONL(ctx context.Context, job string, w io.Writer) (*Summary, error) {
	s, res, err := q.Summarize(ctx, job)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(append(data, '\n')); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFile writes a file whole: into a temporary file, renamed over name.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return os.Rename(f.Name(), name)
}

// Bar is a progress line of width columns for p: a bar, the count, the
// statuses so far and the time left at the pace so far.
func Bar(p *Progress, width int) string {
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Results) / float64(p.Total)
	}
	tail := fmt.Sprintf(" %d/%d %3.0f%%", p.Results, p.Total, frac*100)
	for _, st := range slices.Sorted(mapsKeys(p.ByStatus)) {
		tail += fmt.Sprintf(" %s %d", st, p.ByStatus[st])
	}
	if p.Running > 0 {
		tail += fmt.Sprintf(" running %d", p.Running)
	}
	switch eta := p.ETA(); {
	case p.Done():
		tail += " done"
	case eta > 0:
		tail += " ETA " + eta.Round(time.Second).String()
	}
	n := max(width-len(tail)-2, 10)
	fill := int(frac * float64(n))
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", n-fill) + "]" + tail
}

// WriteLine reports the result on one line, elapsed since the worker's start:
// the answer clipped, or the failure's reason on the line after.
func (r *Result) WriteLine(w io.Writer, elapsed time.Duration) {
	rec := &r.Record
	line := fmt.Sprintf("[%7.1fs] %-8s %s (%.2fs, %d tokens, %d cache hits, attempt %d)", elapsed.Seconds(),
		rec.Status, rec.ID, rec.Timings.Total, rec.Tokens.Prompt+rec.Tokens.Generated, r.CacheHits, r.Attempt)
	if rec.Status == research.StatusOK {
		fmt.Fprintf(w, "%s: %s\n", line, termtext.ClipLine(rec.Answer, 80))
		return
	}
	fmt.Fprintf(w, "%s:\n    %s\n", line, rec.Error)
}

// WriteLine reports the summary on one line, as agent research does.
func (s *Summary) WriteLine(w io.Writer) {
	fmt.Fprintf(w, "research: job %s: %d of %d questions answered: %d ok (%d partial), %d failed; tokens: %d prompt, %d generated; %d cache hits; %.1fs\n",
		s.Job, s.Results, s.Questions, s.OK, s.Partial, s.Failed, s.Tokens.Prompt, s.Tokens.Generated, s.Cache, s.Elapsed)
}
