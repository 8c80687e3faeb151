package queue

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/research"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/custom"
)

// PostgresEnv names the variable with the DSN of a PostgreSQL server the
// tests may create databases on; .ci/run sets it.
const PostgresEnv = "AGENT_TEST_POSTGRES"

// sqliteDSN is a fresh SQLite queue.
func sqliteDSN(t *testing.T) string {
	return filepath.Join(t.TempDir(), "queue.db")
}

// postgresDSN is a fresh database on the server of $AGENT_TEST_POSTGRES, or
// skips the test.
func postgresDSN(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skipf("$%s is not set: no PostgreSQL server to test on (.ci/run starts one; scripts/pgtest starts a private one)", PostgresEnv)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	name := fmt.Sprintf("queue_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating a database on $%s: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		p, err := pgxpool.New(ctx, admin)
		if err == nil {
			p.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
			p.Close()
		}
	})
	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.ConnString()
	if i := strings.Index(u, "?"); i >= 0 && strings.HasPrefix(u, "postgres") {
		return withDB(u[:i], name) + u[i:]
	}
	return withDB(u, name)
}

// withDB replaces the database of a postgres:// URL.
func withDB(u, db string) string {
	scheme := strings.Index(u, "://") + 3
	if slash := strings.Index(u[scheme:], "/"); slash >= 0 {
		return u[:scheme+slash] + "/" + db
	}
	return u + "/" + db
}

func openQueue(t *testing.T, dsn string) *Queue {
	t.Helper()
	q, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// world is the fake world a job's questions are answered in: a scripted
// OpenAI-compatible model, and a server behind the tools Lookup (cached) and
// Notify (side effects) that counts its calls.
type world struct {
	eng      *plannertest.Engine
	llm      *httptest.Server
	srv      *httptest.Server
	toolFile string

	mu      sync.Mutex
	lookups map[string]int
	notices map[string]int // by idempotency key
	noKey   int
}

// plan is every question's plan: a lookup every question shares, and a
// notice of each question's own.
const plan = " :evidence0: = Lookup[facts]\n :evidence1: = Notify[:evidence0:]\nAnswer: :evidence1:\n"

func newWorld(t *testing.T, delay time.Duration) *world {
	t.Helper()
	w := &world{lookups: map[string]int{}, notices: map[string]int{}}
	w.eng = &plannertest.Engine{Delay: delay, Replies: []plannertest.Reply{{Text: plan}}}
	w.llm = w.eng.NewServer()
	t.Cleanup(w.llm.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/lookup", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.lookups[r.FormValue("q")]++
		w.mu.Unlock()
		fmt.Fprintf(rw, "the facts about %s", r.FormValue("q"))
	})
	mux.HandleFunc("/notify", func(rw http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		w.mu.Lock()
		if key == "" {
			w.noKey++
		}
		w.notices[key]++
		w.mu.Unlock()
		time.Sleep(delay)
		fmt.Fprintf(rw, "noted %s", key)
	})
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	w.toolFile = filepath.Join(t.TempDir(), "tools.yaml")
	tools := fmt.Sprintf(`tools:
  - name: Lookup
    description: looks a topic up
    http:
      url: "%[1]s/lookup?q={{ .Input | urlquery }}"
  - name: Notify
    description: tells someone
    http:
      url: "%[1]s/notify"
      method: POST
      body: "{{ .Input }}"
`, w.srv.URL)
	if err := os.WriteFile(w.toolFile, []byte(tools), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// job is a job of n questions in w, its tools cached and guarded.
func (w *world) job(id string, n int, lease time.Duration) *Job {
	j := &Job{ID: id, Spec: Spec{
		Tools: ToolsSpec{File: w.toolFile, Settings: map[string]ToolSettings{
			"Lookup": {TTL: time.Hour}, "Notify": {SideEffects: true}}},
		Engine: EngineSpec{Endpoints: []string{w.llm.URL + "/v1"}},
		Limits: Limits{Timeout: lease / 2, Lease: lease},
	}}
	for i := range n {
		j.Questions = append(j.Questions, research.Question{ID: fmt.Sprintf("q%03d", i), Text: fmt.Sprintf("question %d?", i)})
	}
	return j
}

// plannerAsker answers with a planner.
type plannerAsker struct{ p *planner.Planner }

func (a plannerAsker) Ask(ctx context.Context, q string) (*planner.Trace, error) {
	return a.p.Ask(ctx, q, nil)
}

// openPlanner opens the asker of a job as agent research does, over the
// pool of the job's endpoints and its tools file.
func openPlanner(q *Queue) OpenAsker {
	return func(ctx context.Context, job *StoredJob) (research.Asker, func(), error) {
		llm, err := job.Spec.Engine.Pool("")
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithCancel(ctx)
		set, err := custom.LoadFile(ctx, job.Spec.Tools.File, custom.Options{AllowPrivateNetworks: true})
		if err != nil {
			cancel()
			return nil, nil, err
		}
		all, err := tools.NewRegistry(set.Tools...)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		reg, err := q.Tools(job.Spec, all)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		return plannerAsker{&planner.Planner{LLM: llm, Tools: reg}}, func() { set.Close(); cancel() }, nil
	}
}

// count is the rows of a table.
func count(t *testing.T, q *Queue, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.b.db.QueryRowContext(context.Background(), q.b.q(query), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
