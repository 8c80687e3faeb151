package queue

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Progress is where a job stands.
type Progress struct {
	Job      string
	Total    int // questions
	Results  int
	ByStatus map[string]int
	// Running is the questions a worker holds now (a dead worker's too, until
	// their lease runs out); Waiting those in the queue for one.
	Running, Waiting int
	Tokens           struct{ Prompt, Generated int64 }
	CacheHits        int64
	// Submitted is when the job was first submitted; First and Last the first
	// and last result's times (zero without results).
	Submitted, First, Last time.Time
	// Seconds sums the questions' own times.
	Seconds float64
}

// Done says every question has its result.
func (p *Progress) Done() bool { return p.Results >= p.Total }

// ETA is the time the job still needs at the pace of its results so far
// (from the first result to the last, or with one result from submitting to
// it), left after the last result; 0 when done or when there is no pace yet.
func (p *Progress) ETA() time.Duration {
	var per time.Duration
	switch {
	case p.Done() || p.Results == 0:
		return 0
	case p.Results >= 2 && p.Last.After(p.First):
		per = p.Last.Sub(p.First) / time.Duration(p.Results-1)
	case p.Last.After(p.Submitted):
		per = p.Last.Sub(p.Submitted)
	default:
		return 0
	}
	return per * time.Duration(p.Total-p.Results)
}

// Progress reads where job stands.
func (q *Queue) Progress(ctx context.Context, job string) (*Progress, error) {
	p := &Progress{Job: job, ByStatus: map[string]int{}}
	var at int64
	if err := q.b.db.QueryRowContext(ctx, q.b.q(`SELECT total, submitted_at FROM agent_research_job WHERE id = $1`), job).Scan(&p.Total, &at); err != nil {
		if _, jerr := q.Job(ctx, job); jerr != nil {
			return nil, jerr
		}
		return nil, fmt.Errorf("reading the progress of %s: %w", job, err)
	}
	p.Submitted = time.UnixMilli(at)
	rows, err := q.b.db.QueryContext(ctx, q.b.q(`SELECT status, count(*), sum(prompt_tokens), sum(generated_tokens), sum(cache_hits), sum(seconds), min(finished_at), max(finished_at)
		FROM agent_research_result WHERE job = $1 GROUP BY status`), job)
	if err != nil {
		return nil, fmt.Errorf("reading the progress of %s: %w", job, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status       string
			n            int
			pt, gt, hits int64
			secs         float64
			first, last  int64
		)
		if err := rows.Scan(&status, &n, &pt, &gt, &hits, &secs, &first, &last); err != nil {
			return nil, fmt.Errorf("reading the progress of %s: %w", job, err)
		}
		p.ByStatus[status] = n
		p.Results += n
		p.Tokens.Prompt += pt
		p.Tokens.Generated += gt
		p.CacheHits += hits
		p.Seconds += secs
		if f := time.UnixMilli(first); p.First.IsZero() || f.Before(p.First) {
			p.First = f
		}
		if l := time.UnixMilli(last); l.After(p.Last) {
			p.Last = l
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the progress of %s: %w", job, err)
	}
	return p, q.inQueue(ctx, p)
}

// inQueue counts the job's questions River holds, by state.
func (q *Queue) inQueue(ctx context.Context, p *Progress) error {
	rows, err := q.b.db.QueryContext(ctx, q.b.q(`SELECT state, count(*) FROM river_job WHERE kind = $1 AND `+q.b.argJob+` = $2 GROUP BY state`), kind, p.Job)
	if err != nil {
		return fmt.Errorf("reading the queue of %s: %w", p.Job, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return fmt.Errorf("reading the queue of %s: %w", p.Job, err)
		}
		switch state {
		case "running":
			p.Running += n
		case "available", "retryable", "scheduled", "pending":
			p.Waiting += n
		}
	}
	return rows.Err()
}

// ShowProgress writes the job's progress bar, width columns, on a line of w.
// With watch it redraws the bar in place every interval until the job is
// done or ctx ends (which ends the line and returns nil). The error wraps
// ErrUnknownJob for a job the queue does not have.
func (q *Queue) ShowProgress(ctx context.Context, job string, w io.Writer, width int, watch bool, interval time.Duration) error {
	for {
		p, err := q.Progress(ctx, job)
		if err != nil {
			return err
		}
		bar := Bar(p, width)
		if !watch || p.Done() {
			fmt.Fprintln(w, bar)
			return nil
		}
		fmt.Fprintf(w, "\r%s", bar)
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return nil
		case <-time.After(interval):
		}
	}
}
