package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the embedded store: SQLite in pure Go
)

// riverClient is what the queue uses of a River client, whatever its
// driver's transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// execFunc runs one statement in a transaction, giving the rows it changed.
type execFunc func(ctx context.Context, query string, args ...any) (int64, error)

// backend is a store of one kind: SQLite or PostgreSQL. Its db serves every
// read and the statements outside River's transactions.
type backend struct {
	kind string // "sqlite" or "postgres"
	db   *sql.DB
	// argJob is the SQL expression of a River job's args.job.
	argJob string
	// newClient makes a River client over the store.
	newClient func(cfg *river.Config) (riverClient, error)
	// complete runs in (the result's insert) and completes job in one
	// transaction, so a question's result and its job's completion are kept
	// or lost together.
	complete func(ctx context.Context, job *river.Job[questionArgs], in func(ctx context.Context, exec execFunc) error) error
	migrate  func(ctx context.Context) error
	close    func()
}

// q rewrites a statement written with $1, $2 for the backend.
func (b *backend) q(query string) string {
	if b.kind == "sqlite" {
		return sqliteParams(query)
	}
	return query
}

var dollarParam = regexp.MustCompile(`\$([0-9]+)`)

// sqliteParams writes PostgreSQL's $1 parameters as SQLite's ?1.
func sqliteParams(query string) string { return dollarParam.ReplaceAllString(query, "?$1") }

func (b *backend) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := b.db.ExecContext(ctx, b.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ErrQueue wraps every failure to open a queue.
var ErrQueue = errors.New("opening the queue")

// openBackend opens the store named by dsn: postgres:// or postgresql:// is
// PostgreSQL, anything else a SQLite file (an optional sqlite: prefix).
func openBackend(ctx context.Context, dsn string) (*backend, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
}

func openSQLite(ctx context.Context, path string) (*backend, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no SQLite file given", ErrQueue)
	}
	// Several worker processes may share the file: WAL lets readers pass a
	// writer, busy_timeout waits for the lock, and immediate transactions take
	// the write lock up front so two of them never deadlock upgrading.
	dsn := "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrQueue, path, err)
	}
	// River's SQLite driver wants one connection: SQLite writes one at a time.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w %s: %w", ErrQueue, path, err)
	}
	driver := riversqlite.New(db)
	return &backend{
		kind:   "sqlite",
		db:     db,
		argJob: "json_extract(args, '$.job')",
		newClient: func(cfg *river.Config) (riverClient, error) {
			cfg.PollOnly = true // SQLite has no LISTEN
			return river.NewClient(driver, cfg)
		},
		complete: func(ctx context.Context, job *river.Job[questionArgs], in func(context.Context, execFunc) error) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			exec := func(ctx context.Context, query string, args ...any) (int64, error) {
				res, err := tx.ExecContext(ctx, sqliteParams(query), args...)
				if err != nil {
					return 0, err
				}
				return res.RowsAffected()
			}
			if err := in(ctx, exec); err != nil {
				return err
			}
			if _, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return err
			}
			return tx.Commit()
		},
		migrate: func(ctx context.Context) error { return migrateRiver(ctx, driver) },
		close:   func() { db.Close() },
	}, nil
}

func openPostgres(ctx context.Context, dsn string) (*backend, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	driver := riverpgxv5.New(pool)
	return &backend{
		kind:   "postgres",
		db:     db,
		argJob: "args->>'job'",
		newClient: func(cfg *river.Config) (riverClient, error) {
			return river.NewClient(driver, cfg)
		},
		complete: func(ctx context.Context, job *river.Job[questionArgs], in func(context.Context, execFunc) error) error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			exec := func(ctx context.Context, query string, args ...any) (int64, error) {
				tag, err := tx.Exec(ctx, query, args...)
				return tag.RowsAffected(), err
			}
			if err := in(ctx, exec); err != nil {
				return err
			}
			if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return err
			}
			return tx.Commit(ctx)
		},
		migrate: func(ctx context.Context) error { return migrateRiver[pgx.Tx](ctx, driver) },
		close:   func() { db.Close(); pool.Close() },
	}, nil
}

func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New[TTx](driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}
