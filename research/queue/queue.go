package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/singleflight"

	"github.com/rewoo-agent/agent/research"
)

// kind is the River job kind of a question.
const kind = "agent_research_question"

// riverQueue is the River queue the questions are in.
const riverQueue = "research"

// questionArgs is one question as a River job. A job and question id make it
// unique: submitting a job again inserts nothing.
type questionArgs struct {
	Job      string `json:"job" river:"unique"`
	Question string `json:"question" river:"unique"`
	Text     string `json:"text"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// LeaseMS is how long a worker holds the question before it returns to
	// the queue: the question's time limit and some grace.
	LeaseMS int64 `json:"lease_ms"`
	// MaxAttempts is the job's limit on attempts; the one past it records the
	// question failed without asking it.
	MaxAttempts int `json:"max_attempts"`
}

func (questionArgs) Kind() string { return kind }

// schema is the queue's own tables beside River's, written to run on SQLite
// and PostgreSQL alike. Times are Unix milliseconds.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS agent_research_job (
		id TEXT PRIMARY KEY,
		digest TEXT NOT NULL,
		spec TEXT NOT NULL,
		questions TEXT NOT NULL,
		total BIGINT NOT NULL,
		submitted_at BIGINT NOT NULL)`,
	// One row per question ever: the primary key is what makes a question's
	// result exactly one, however many workers answered it.
	`CREATE TABLE IF NOT EXISTS agent_research_result (
		job TEXT NOT NULL,
		question TEXT NOT NULL,
		status TEXT NOT NULL,
		record TEXT NOT NULL,
		prompt_tokens BIGINT NOT NULL,
		generated_tokens BIGINT NOT NULL,
		cache_hits BIGINT NOT NULL,
		attempt BIGINT NOT NULL,
		worker TEXT NOT NULL,
		seconds DOUBLE PRECISION NOT NULL,
		finished_at BIGINT NOT NULL,
		PRIMARY KEY (job, question))`,
	`CREATE TABLE IF NOT EXISTS agent_research_cache (
		tool TEXT NOT NULL,
		input_hash TEXT NOT NULL,
		output TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		PRIMARY KEY (tool, input_hash))`,
	`CREATE TABLE IF NOT EXISTS agent_research_call (
		key TEXT PRIMARY KEY,
		job TEXT NOT NULL,
		question TEXT NOT NULL,
		tool TEXT NOT NULL,
		state TEXT NOT NULL,
		output TEXT NOT NULL,
		started_at BIGINT NOT NULL)`,
}

// Queue is a store of research jobs: River's job tables, and the queue's own
// tables of jobs, results, cached tool results and side-effecting calls.
type Queue struct {
	b *backend
	// client only inserts; workers start their own.
	client riverClient
	// flight joins this process's calls for one cached result.
	flight singleflight.Group
}

// Open opens the queue at dsn (a SQLite file, or postgres://...), creating its
// tables (River's migrations, then the queue's) when they are missing.
func Open(ctx context.Context, dsn string) (*Queue, error) {
	b, err := openBackend(ctx, dsn)
	if err != nil {
		return nil, err
	}
	q := &Queue{b: b}
	if err := q.init(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return q, nil
}

func (q *Queue) init(ctx context.Context) error {
	if err := q.b.migrate(ctx); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	for _, s := range schema {
		if _, err := q.b.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the queue's tables: %w", err)
		}
	}
	c, err := q.b.newClient(&river.Config{})
	if err != nil {
		return err
	}
	q.client = c
	return nil
}

// Close closes the store.
func (q *Queue) Close() error {
	q.b.close()
	return nil
}

// Kind is "sqlite" or "postgres".
func (q *Queue) Kind() string { return q.b.kind }

// ErrJobChanged is returned by Submit for a job whose id was submitted with
// other questions or another spec.
var ErrJobChanged = errors.New("a different job was submitted under this id")

// ErrUnknownJob is returned for a job id the queue has not seen.
var ErrUnknownJob = errors.New("no such job in the queue")

// Submitted is what Submit did.
type Submitted struct {
	// Added is the questions put in the queue; Already those that were in it,
	// or had a result, before.
	Added, Already int
}

// insertBatch bounds one InsertMany.
const insertBatch = 500

// Submit puts the job's questions in the queue. Submitting the same job again
// adds nothing; a different job under the same id is ErrJobChanged.
func (q *Queue) Submit(ctx context.Context, job *Job) (*Submitted, error) {
	spec, err := json.Marshal(job.Spec)
	if err != nil {
		return nil, err
	}
	qs, err := json.Marshal(job.Questions)
	if err != nil {
		return nil, err
	}
	digest := job.Digest()
	if _, err := q.b.exec(ctx, `INSERT INTO agent_research_job (id, digest, spec, questions, total, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		job.ID, digest, string(spec), string(qs), len(job.Questions), time.Now().UnixMilli()); err != nil {
		return nil, fmt.Errorf("submitting %s: %w", job.ID, err)
	}
	var have string
	if err := q.b.db.QueryRowContext(ctx, q.b.q(`SELECT digest FROM agent_research_job WHERE id = $1`), job.ID).Scan(&have); err != nil {
		return nil, fmt.Errorf("submitting %s: %w", job.ID, err)
	}
	if have != digest {
		return nil, fmt.Errorf("%w: %s (give the changed job a new id)", ErrJobChanged, job.ID)
	}
	done, err := q.answered(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	lease := job.Spec.Limits.lease()
	s := &Submitted{}
	var batch []river.InsertManyParams
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := q.client.InsertMany(ctx, batch)
		if err != nil {
			return fmt.Errorf("submitting %s: %w", job.ID, err)
		}
		for _, r := range res {
			if r.UniqueSkippedAsDuplicate {
				s.Already++
			} else {
				s.Added++
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, qu := range job.Questions {
		if done[qu.ID] {
			s.Already++
			continue
		}
		batch = append(batch, river.InsertManyParams{
			Args: questionArgs{Job: job.ID, Question: qu.ID, Text: qu.Text, File: qu.File, Line: qu.Line,
				LeaseMS: lease.Milliseconds(), MaxAttempts: job.Spec.Limits.maxAttempts()},
			InsertOpts: &river.InsertOpts{
				Queue:       riverQueue,
				MaxAttempts: job.Spec.Limits.maxAttempts() + 1,
				UniqueOpts:  river.UniqueOpts{ByArgs: true},
			},
		})
		if len(batch) == insertBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return s, nil
}

// leaseGrace is how much longer than a question's time limit its worker holds
// it: time to record the answer.
const leaseGrace = 30 * time.Second

// answered is the questions of job with a result.
func (q *Queue) answered(ctx context.Context, job string) (map[string]bool, error) {
	rows, err := q.b.db.QueryContext(ctx, q.b.q(`SELECT question FROM agent_research_result WHERE job = $1`), job)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// StoredJob is a job as the queue keeps it.
type StoredJob struct {
	ID        string
	Spec      Spec
	Questions []research.Question
	Submitted time.Time
}

// Job reads the job id back.
func (q *Queue) Job(ctx context.Context, id string) (*StoredJob, error) {
	var spec, qs string
	var at int64
	err := q.b.db.QueryRowContext(ctx, q.b.q(`SELECT spec, questions, submitted_at FROM agent_research_job WHERE id = $1`), id).Scan(&spec, &qs, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	j := &StoredJob{ID: id, Submitted: time.UnixMilli(at)}
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(qs), &j.Questions); err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	return j, nil
}

// Result is a question's one result.
type Result struct {
	Record    research.Record
	CacheHits int
	Attempt   int
	Worker    string
	Finished  time.Time
}

// Results is every result of job, in no order.
func (q *Queue) Results(ctx context.Context, job string) ([]*Result, error) {
	rows, err := q.b.db.QueryContext(ctx, q.b.q(`SELECT record, cache_hits, attempt, worker, finished_at FROM agent_research_result WHERE job = $1`), job)
	if err != nil {
		return nil, fmt.Errorf("reading the results of %s: %w", job, err)
	}
	defer rows.Close()
	var out []*Result
	for rows.Next() {
		var (
			rec string
			r   Result
			at  int64
		)
		if err := rows.Scan(&rec, &r.CacheHits, &r.Attempt, &r.Worker, &at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(rec), &r.Record); err != nil {
			return nil, fmt.Errorf("a result of %s: %w", job, err)
		}
		r.Finished = time.UnixMilli(at)
		out = append(out, &r)
	}
	return out, rows.Err()
}
