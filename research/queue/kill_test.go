package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/research"
)

// workerEnv, when set, makes the test binary a worker process on the queue
// it names, as agent research worker is, with short leases: the kill tests
// start it and kill it.
const workerEnv = "QUEUE_TEST_WORKER"

func TestMain(m *testing.M) {
	if dsn := os.Getenv(workerEnv); dsn != "" {
		os.Exit(runWorkerProcess(dsn))
	}
	os.Exit(m.Run())
}

func runWorkerProcess(dsn string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	q, err := Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer q.Close()
	w := &Worker{Queue: q, Open: openPlanner(q), Parallel: 2, RescueAfter: time.Second, Poll: 50 * time.Millisecond,
		ID: fmt.Sprintf("worker-%d", os.Getpid())}
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKillWorkers kills worker processes with SIGKILL at random moments, 30
// times, while they answer a job against a scripted model served on loopback,
// then lets the last ones finish: every question ends with exactly one
// result, none lost, none twice, and the side-effecting tool was never called
// twice for one step. One worker on SQLite; two and three on one PostgreSQL
// queue, a random one killed each time.
func TestKillWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("kills worker processes for a minute or more")
	}
	tests := []struct {
		name    string
		dsn     func(*testing.T) string
		workers int
	}{
		{"sqlite/1", sqliteDSN, 1},
		{"postgres/2", postgresDSN, 2},
		{"postgres/3", postgresDSN, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn(t)
			q := openQueue(t, dsn)
			w := newWorld(t, 8*time.Millisecond)
			n := 50 * tt.workers
			job := w.job("killed", n, 3*time.Second)
			if _, err := q.Submit(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			logs := t.TempDir()
			procs := make([]*exec.Cmd, tt.workers)
			started := 0
			start := func(i int) {
				started++
				log, err := os.Create(filepath.Join(logs, fmt.Sprintf("worker%d.log", started)))
				if err != nil {
					t.Fatal(err)
				}
				defer log.Close()
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), workerEnv+"="+dsn)
				cmd.Stdout, cmd.Stderr = log, log
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				procs[i] = cmd
			}
			kill := func(i int) {
				procs[i].Process.Signal(syscall.SIGKILL)
				procs[i].Wait()
			}
			for i := range procs {
				start(i)
			}
			defer func() {
				for i := range procs {
					kill(i)
				}
			}()
			const kills = 30
			for range kills {
				time.Sleep(time.Duration(30+rng.IntN(270)) * time.Millisecond)
				i := rng.IntN(tt.workers)
				kill(i)
				start(i)
			}
			midway, err := q.Progress(context.Background(), "killed")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after %d kills: %d of %d questions have results", kills, midway.Results, n)
			deadline := time.Now().Add(2 * time.Minute)
			for {
				p, err := q.Progress(context.Background(), "killed")
				if err != nil {
					t.Fatal(err)
				}
				if p.Done() {
					break
				}
				if time.Now().After(deadline) {
					dumpLogs(t, logs)
					t.Fatalf("after two minutes %d of %d questions have results", p.Results, n)
				}
				time.Sleep(100 * time.Millisecond)
			}
			checkResults(t, q, job, w)
		})
	}
}

// checkResults checks each question of job has exactly one result, ok or
// failed only because a side-effecting call's outcome was lost with its
// worker, and that no step's side effect happened twice.
func checkResults(t *testing.T, q *Queue, job *Job, w *world) {
	t.Helper()
	res, err := q.Results(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	retried, unknown, timedOut := 0, 0, 0
	for _, r := range res {
		got[r.Record.ID]++
		if r.Attempt > 1 {
			retried++
		}
		switch {
		case r.Record.Status == research.StatusOK:
		case r.Record.Status == research.StatusTimeout:
			timedOut++ // a busy machine; still the question's one result
		case strings.Contains(r.Record.Error, ErrUnknownOutcome.Error()):
			unknown++
		default:
			t.Errorf("%s: %s: %s", r.Record.ID, r.Record.Status, r.Record.Error)
		}
	}
	for _, qu := range job.Questions {
		if got[qu.ID] != 1 {
			t.Errorf("question %s has %d results", qu.ID, got[qu.ID])
		}
		delete(got, qu.ID)
	}
	if len(got) > 0 {
		t.Errorf("results of no question: %v", got)
	}
	if n := count(t, q, `SELECT count(*) FROM agent_research_result WHERE job = $1`, job.ID); n != len(job.Questions) {
		t.Errorf("%d result rows for %d questions", n, len(job.Questions))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, n := range w.notices {
		if n > 1 {
			t.Errorf("the side effect of step %s happened %d times", key, n)
		}
	}
	if w.noKey > 0 {
		t.Errorf("%d side-effecting calls without an idempotency key", w.noKey)
	}
	t.Logf("%d results, %d of them after a killed attempt, %d failed with a side effect's outcome unknown, %d timed out; %d notices sent",
		len(res), retried, unknown, timedOut, len(w.notices))
	if retried == 0 {
		t.Errorf("no question was taken up again: the interruptions missed every question")
	}
}

func dumpLogs(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 0 {
			t.Logf("%s:\n%s", filepath.Base(f), data)
		}
	}
}
