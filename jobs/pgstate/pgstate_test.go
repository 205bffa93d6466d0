package pgstate_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/jobs/storetest"
	"github.com/cubesync/cubesync/migrations"
)

func TestMain(m *testing.M) { pgtest.Run(m) }

func TestConformance(t *testing.T) {
	dsn := storetest.PerTest(func(t *testing.T) string { return pgtest.DSN(t) })
	storetest.Run(t, func(t *testing.T) jobs.Store {
		t.Helper()
		return open(t, dsn(t))
	})
}

func open(t *testing.T, dsn string) *pgstate.Store {
	t.Helper()
	s, err := pgstate.Open(context.Background(), dsn, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestMigrateConcurrently starts several processes' worth of migrations on one empty
// database at the same moment: every one must succeed and the schema be applied once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const migrators = 3
	errs := make([]error, migrators)
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Go(func() { errs[i] = pgstate.Migrate(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d of %d concurrent: %v", i+1, migrators, err)
		}
	}

	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	conn := pgtest.Connect(t, dsn)
	var applied, latest int64
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE version_id > 0), max(version_id) FROM cubesync.goose_db_version WHERE is_applied`).Scan(&applied, &latest)
	if err != nil {
		t.Fatalf("read goose version table: %v", err)
	}
	if applied != int64(len(files)) {
		t.Errorf("after %d concurrent Migrate: %d migrations recorded, want each of the %d files once", migrators, applied, len(files))
	}
	for _, table := range []string{"runs", "watermarks", "datasets", "loaded_files", "slots"} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass('cubesync.' || $1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			t.Errorf("table cubesync.%s exists = %v (%v), want it created", table, exists, err)
		}
	}

	if err := pgstate.Migrate(ctx, dsn); err != nil {
		t.Errorf("Migrate on an up-to-date schema: %v", err)
	}
}

// TestLockReleasedWhenConnectionDies kills the backend of the connection holding a job's
// lock, as a replica's death or a network cut would: the lock must be free afterwards.
func TestLockReleasedWhenConnectionDies(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	holder, other := open(t, dsn), open(t, dsn)
	lease, err := holder.Lock(ctx, "sales")
	if err != nil {
		t.Fatalf("Lock(sales): %v", err)
	}
	// Unreachable, the lock's connection would be closed by the garbage collector (its
	// socket's finalizer), releasing the lock before the test kills it.
	defer runtime.KeepAlive(lease)
	defer lease.Unlock()

	_, err = other.Lock(ctx, "sales")
	if !errors.Is(err, jobs.ErrLocked) {
		t.Fatalf("Lock(sales) while held: err = %v, want ErrLocked", err)
	}
	if got, want := jobs.LockHolder(err), fmt.Sprintf(":%d", os.Getpid()); !strings.HasSuffix(got, want) {
		t.Errorf("refusal %q names the holder %q, want this process's host:pid", err, got)
	}

	conn := pgtest.Connect(t, dsn)
	var pid int32
	err = conn.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid)
	if err != nil {
		t.Fatalf("find the session holding the lock: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatalf("terminate the lock's session: %v", err)
	}

	// The holder notices within seconds, unasked (fencing: its run then publishes nothing).
	select {
	case <-lease.Lost():
	case <-time.After(2*jobs.LeaseWatchInterval + 5*time.Second):
		t.Fatalf("the holder's lease was not found lost within %s of its connection's end", 2*jobs.LeaseWatchInterval+5*time.Second)
	}
	if err := lease.Check(ctx); !errors.Is(err, jobs.ErrLockLost) {
		t.Errorf("Check after the connection was terminated: err = %v, want ErrLockLost", err)
	}

	if !testutil.Eventually(5*time.Second, func() bool {
		var next jobs.Lease
		next, err = other.Lock(ctx, "sales")
		if err == nil {
			if err := next.Check(ctx); err != nil {
				t.Errorf("Check of the new holder: %v", err)
			}
			if err := next.Unlock(); err != nil {
				t.Errorf("unlock: %v", err)
			}
			return true
		}
		return !errors.Is(err, jobs.ErrLocked)
	}) || err != nil {
		t.Fatalf("Lock(sales) after the holding session was terminated: %v", err)
	}
}

// TestSecretsStayOutOfErrors opens bad DSNs carrying a password.
func TestSecretsStayOutOfErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "s3cr3t-pw"
	tests := []struct {
		name string
		dsn  string
	}{
		{"unparseable port", "postgres://cubesync:" + secret + "@127.0.0.1:notaport/state"},
		{"nothing listening", "postgres://cubesync:" + secret + "@127.0.0.1:1/state?connect_timeout=2"},
		{"key=value", "host=127.0.0.1 port=1 user=cubesync password=" + secret + " dbname=state connect_timeout=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for what, err := range map[string]error{
				"Open":    func() error { _, err := pgstate.Open(ctx, tc.dsn, testLogger(t)); return err }(),
				"Migrate": pgstate.Migrate(ctx, tc.dsn),
			} {
				if err == nil {
					t.Errorf("%s(%s): err = nil, want an error", what, tc.name)
				} else if strings.Contains(err.Error(), secret) {
					t.Errorf("%s(%s) error shows the password: %v", what, tc.name, err)
				}
			}
		})
	}
}

// TestMigrationsRollBack applies every migration, rolls all of them back with their Down
// sections and applies them again: a release can be rolled back without hand-written SQL.
func TestMigrationsRollBack(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if err := pgstate.Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithTableName(pgstate.Schema+".goose_db_version"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("roll back every migration: %v", err)
	}
	conn := pgtest.Connect(t, dsn)
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'goose_db_version'`, pgstate.Schema).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("after rolling back every migration: %d tables left in schema %s, want none", left, pgstate.Schema)
	}
	if err := pgstate.Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate after a full roll back: %v", err)
	}
	s := open(t, dsn)
	if _, err := s.ClaimSlot(ctx, "sales", time.Now()); err != nil {
		t.Errorf("ClaimSlot on the re-created schema: %v", err)
	}
}
