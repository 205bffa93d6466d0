package pgstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cubesync/cubesync/migrations"
)

// Schema is the Postgres schema that holds the state store's tables and goose's version table.
const Schema = "cubesync"

// versionTable is where goose records the migrations applied.
const versionTable = Schema + ".goose_db_version"

// MigrateOption configures Migrate.
type MigrateOption func(*migrateConfig)

type migrateConfig struct {
	logger *slog.Logger
}

// WithMigrateLogger logs each migration applied (file and duration) to logger.
func WithMigrateLogger(logger *slog.Logger) MigrateOption {
	return func(c *migrateConfig) { c.logger = logger }
}

// Migrate brings the cubesync schema of the database at dsn up to date, applying the
// migrations embedded in the binary that it lacks. Processes migrating at once take turns:
// each holds a session advisory lock while it migrates, and the later ones find nothing to do.
func Migrate(ctx context.Context, dsn string, opts ...MigrateOption) error {
	cfg := migrateConfig{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	connConfig, err := pgx.ParseConfig(dsn)
	if err != nil {
		return parseError(err)
	}
	return migrate(ctx, connConfig, cfg.logger)
}

func migrate(ctx context.Context, connConfig *pgx.ConnConfig, logger *slog.Logger) error {
	db := stdlib.OpenDB(*connConfig)
	defer db.Close()
	if err := createSchema(ctx, db); err != nil {
		return err
	}
	// Retry the lock every second for up to 5 minutes: another process may be migrating.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockKey("migrate", "")), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrate state schema: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate state schema: %w", err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			logger.Info("state migration applied", "file", path.Base(r.Source.Path), "duration", r.Duration.Round(time.Millisecond))
		}
	}
	if err != nil {
		return fmt.Errorf("migrate state schema %s: %w", Schema, err)
	}
	return nil
}

// createSchema makes the cubesync schema goose's version table lives in. Two processes
// running CREATE SCHEMA IF NOT EXISTS at the same moment can still collide, so it runs under
// a transaction advisory lock; and a user allowed to use an existing schema but not to
// create one must not fail, so it only creates a missing schema.
func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return connectError(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("migrate", "schema")); err != nil {
		return fmt.Errorf("create schema %s: %w", Schema, err)
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", Schema).Scan(&exists); err != nil {
		return fmt.Errorf("create schema %s: %w", Schema, err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+Schema); err != nil {
			return fmt.Errorf("create schema %s (the state database user needs CREATE on the database, or create the schema for it): %w", Schema, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema %s: %w", Schema, err)
	}
	return nil
}

// lockKey is the advisory lock key of a name in a namespace: 64 bits of FNV-1a, prefixed so
// cubesync's keys do not meet another application's by accident.
func lockKey(namespace, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("cubesync\x00" + namespace + "\x00" + name))
	return int64(h.Sum64())
}

// parseError hides the DSN: pgx redacts passwords from its parse errors only on a best
// effort basis, and a DSN that does not parse is the one whose password it may miss.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("state database_url cannot be parsed: write it as postgres://user:password@host:5432/dbname or as key=value pairs")
	}
	return fmt.Errorf("state database_url: %w", err)
}

// connectError says what to check when the database cannot be reached. pgx's connect errors
// name host, user and database, never the password.
func connectError(err error) error {
	return fmt.Errorf("connect to the state database (check [state] database_url and that the server is up): %w", err)
}
