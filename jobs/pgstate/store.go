package pgstate

// The Postgres implementation of jobs.Store, one method after another: job locks (leases),
// runs, dataset ids, watermarks, loaded files and slot claims. It is long because the Store
// interface is; pause and run requests are in control.go, deliveries in deliveries.go.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/jobs"
)

// slotRetention is how long claimed slots are kept behind a job's newest claim: far longer
// than any catch-up window, so a slot is never claimed twice, and short enough that a job
// running every second does not fill the table.
const slotRetention = 30 * 24 * time.Hour

// Store is the Postgres state store. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	lockConn *pgx.ConnConfig // for the dedicated connection of each Lock
	logger   *slog.Logger
	now      func() time.Time
	host     string
	// leaseInterval is how often a job lock's lease asks its connection.
	leaseInterval time.Duration
}

// Option configures Open.
type Option func(*Store)

// WithLeaseInterval sets how often a job's lock asks its connection whether it still holds
// the lock (jobs.LeaseWatchInterval by default).
func WithLeaseInterval(d time.Duration) Option { return func(s *Store) { s.leaseInterval = d } }

// WithClock sets the clock that stamps run ends, watermark updates, loaded files and claims.
func WithClock(c clock.Clock) Option { return func(s *Store) { s.now = c.Now } }

// Open connects to the database at dsn, applies the migrations it lacks and returns the
// Store. logger receives the migrations applied and lock problems.
func Open(ctx context.Context, dsn string, logger *slog.Logger, opts ...Option) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, parseError(err)
	}
	s := &Store{logger: logger, now: time.Now, host: jobs.HostID(), leaseInterval: jobs.LeaseWatchInterval}
	for _, o := range opts {
		o(s)
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy(), logger); err != nil {
		return nil, err
	}
	s.lockConn = cfg.ConnConfig.Copy()
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "cubesync"
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, connectError(err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, connectError(err)
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	return nil
}

// Close closes the pool. Locks taken with Lock have connections of their own and stay held
// until their unlock functions are called.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Lock takes the job's lock: a session advisory lock on a connection opened for it and
// closed by unlock. If the process dies, the connection ends and Postgres releases the lock.
// The lease asks that connection every jobs.LeaseWatchInterval (and when checked) whether
// it still holds the lock: a connection that was terminated (pg_terminate_backend, a
// restart, a network cut) has lost it, and another process may hold it now.
func (s *Store) Lock(ctx context.Context, job string) (jobs.Lease, error) {
	if job == "" {
		return nil, errors.New("job name is empty")
	}
	cfg := s.lockConn.Copy()
	cfg.RuntimeParams["application_name"] = truncate("cubesync lock "+job+" by "+s.host, 63)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(err)
	}
	key := lockKey("job", job)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("take the job's advisory lock: %w", err)
	}
	if !ok {
		defer conn.Close(context.WithoutCancel(ctx))
		return nil, &jobs.LockedError{Holder: lockHolder(ctx, conn, key)}
	}
	var mu sync.Mutex // a pgx.Conn takes one query at a time
	check := func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		u := uint64(key)
		var held bool
		err := conn.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
				AND objsubid = 1 AND classid = $1 AND objid = $2)`, uint32(u>>32), uint32(u)).Scan(&held)
		switch {
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			return fmt.Errorf("%w: its connection failed: %w", jobs.ErrLockLost, err)
		case !held:
			return fmt.Errorf("%w: the connection no longer holds the advisory lock", jobs.ErrLockLost)
		}
		return nil
	}
	unlock := func() error {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn.IsClosed() {
			return nil
		}
		// Closing the connection alone would release the lock; unlocking first lets a
		// connection pooler that keeps server sessions open not keep the lock too.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			s.logger.Warn("advisory unlock failed; closing the connection releases the lock", "job", job, "err", err)
		}
		if err := conn.Close(ctx); err != nil {
			return fmt.Errorf("close the lock connection of job %q: %w", job, err)
		}
		return nil
	}
	return jobs.NewLease(fmt.Sprintf("advisory lock of job %q", job), s.leaseInterval, check, unlock), nil
}

// lockHolder names the session holding the advisory lock key, from its application_name
// ("cubesync lock JOB by HOST:PID"), or "" when it cannot be seen.
func lockHolder(ctx context.Context, conn *pgx.Conn, key int64) string {
	// A bigint advisory key shows in pg_locks as classid (high half), objid (low half) and
	// objsubid 1.
	u := uint64(key)
	var app, addr string
	err := conn.QueryRow(ctx, `
		SELECT coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.classid = $1 AND l.objid = $2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		uint32(u>>32), uint32(u)).Scan(&app, &addr)
	if err != nil {
		return "another process"
	}
	// Lock connections are named "cubesync lock JOB by HOST:PID".
	if i := strings.LastIndex(app, " by "); strings.HasPrefix(app, "cubesync lock ") && i >= 0 {
		return app[i+len(" by "):]
	}
	if app == "" {
		return "a session from " + addr
	}
	return fmt.Sprintf("%q from %s", app, addr)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// nullTime is a time as a query parameter, the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = jobs.Stamp(t)
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// StartRun records r as a new running run. Started defaults to now and Host to this process.
func (s *Store) StartRun(ctx context.Context, r jobs.Run) (jobs.Run, error) {
	if r.Job == "" {
		return jobs.Run{}, errors.New("job name is empty")
	}
	r.Status = jobs.StatusRunning
	r.Scheduled = jobs.Stamp(r.Scheduled)
	r.Started = jobs.Stamp(cmp.Or(r.Started, s.now()))
	r.Ended = time.Time{}
	r.Host = cmp.Or(r.Host, s.host)
	err := s.pool.QueryRow(ctx, `
		INSERT INTO cubesync.runs (job, trigger, scheduled_at, started_at, status, dataset_id, session_id, host, attempt, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		r.Job, r.Trigger, nullTime(r.Scheduled), r.Started, r.Status, r.DatasetID, r.SessionID, r.Host, max(r.Attempt, 1), r.TraceID).Scan(&r.ID)
	if err != nil {
		return jobs.Run{}, fmt.Errorf("insert run of job %q: %w", r.Job, err)
	}
	r.Rows, r.Bytes, r.Chunks, r.Error, r.Tables, r.Attempt = 0, 0, 0, "", nil, max(r.Attempt, 1)
	return r, nil
}

// SetRunSession records that run id is opening an upload session (sessionID "") or has
// opened one.
func (s *Store) SetRunSession(ctx context.Context, id int64, datasetID, sessionID string) error {
	phase := jobs.PhaseOpen
	if sessionID == "" {
		phase = jobs.PhaseOpening
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE cubesync.runs SET dataset_id = $2, session_id = $3, phase = $4, pending = NULL
			WHERE id = $1 AND status = 'running'`, id, datasetID, sessionID, phase)
		if err != nil {
			return fmt.Errorf("record upload session of run %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: its upload session is not recorded", notRunning(ctx, tx, id))
		}
		return nil
	})
}

// SetRunPending records what run id commits once its session is published.
func (s *Store) SetRunPending(ctx context.Context, id int64, p jobs.Pending) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var job, session string
		err := tx.QueryRow(ctx, `SELECT job, session_id FROM cubesync.runs WHERE id = $1 AND status = 'running' FOR UPDATE`, id).Scan(&job, &session)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: its pending state is not recorded", notRunning(ctx, tx, id))
		}
		if err != nil {
			return fmt.Errorf("read run %d: %w", id, err)
		}
		if session == "" {
			return fmt.Errorf("run %d of job %q has no upload session recorded: record it before its pending state", id, job)
		}
		for _, w := range p.Watermarks {
			if err := jobs.CheckSameJob(job, w.Job, w.Table); err != nil {
				return err
			}
		}
		for _, f := range p.Files {
			if err := jobs.CheckSameJob(job, f.Job, f.Table); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE cubesync.runs SET phase = $2, pending = $3 WHERE id = $1`, id, jobs.PhasePublishing, p); err != nil {
			return fmt.Errorf("record pending state of run %d: %w", id, err)
		}
		return nil
	})
}

// FinishRun ends a running run. For a succeeded run the watermarks and loaded files are
// saved in the same transaction as the run's status.
func (s *Store) FinishRun(ctx context.Context, id int64, o jobs.Outcome) error {
	if err := jobs.CheckOutcome(o); err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	now := jobs.Stamp(s.now())
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var job string
		err := tx.QueryRow(ctx, `
			UPDATE cubesync.runs SET status = $2, ended_at = $3, rows = $4, bytes = $5, chunks = $6, error = $7, tables = $8,
				phase = CASE WHEN $9 THEN phase ELSE '' END, pending = CASE WHEN $9 THEN pending END
			WHERE id = $1 AND (status = 'running' OR phase <> '') RETURNING job`,
			id, o.Status, now, o.Rows, o.Bytes, o.Chunks, o.Error, runTables(o.Tables), o.KeepSession).Scan(&job)
		if errors.Is(err, pgx.ErrNoRows) {
			return notRunning(ctx, tx, id)
		}
		if err != nil {
			return fmt.Errorf("update run %d: %w", id, err)
		}
		if o.Status != jobs.StatusSucceeded {
			return nil
		}
		if err := saveWatermarks(ctx, tx, job, o.Watermarks, now); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
		if err := saveFiles(ctx, tx, job, o.Files, now); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
		return nil
	})
}

// notRunning explains why run id could not be finished.
func notRunning(ctx context.Context, tx pgx.Tx, id int64) error {
	var job, status string
	err := tx.QueryRow(ctx, `SELECT job, status FROM cubesync.runs WHERE id = $1`, id).Scan(&job, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("run %d: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read run %d: %w", id, err)
	}
	return fmt.Errorf("run %d of job %q is already %s", id, job, status)
}

func saveWatermarks(ctx context.Context, tx pgx.Tx, job string, marks []jobs.Watermark, now time.Time) error {
	if len(marks) == 0 {
		return nil
	}
	// One statement for all tables; the last watermark of a table wins, as one INSERT may
	// not update the same row twice.
	byTable := map[string]int{}
	var tables, columns, kinds, values []string
	var updated []time.Time
	for _, w := range marks {
		if err := jobs.CheckSameJob(job, w.Job, w.Table); err != nil {
			return err
		}
		if i, ok := byTable[w.Table]; ok {
			columns[i], kinds[i], values[i], updated[i] = w.Column, w.Kind, w.Value, jobs.Stamp(cmp.Or(w.Updated, now))
			continue
		}
		byTable[w.Table] = len(tables)
		tables = append(tables, w.Table)
		columns = append(columns, w.Column)
		kinds = append(kinds, w.Kind)
		values = append(values, w.Value)
		updated = append(updated, jobs.Stamp(cmp.Or(w.Updated, now)))
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO cubesync.watermarks (job, table_name, column_name, kind, value, updated_at)
		SELECT $1, t, c, k, v, u FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS x(t, c, k, v, u)
		ON CONFLICT (job, table_name) DO UPDATE
		SET column_name = excluded.column_name, kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at`,
		job, tables, columns, kinds, values, updated)
	if err != nil {
		return fmt.Errorf("save watermarks of job %q: %w", job, err)
	}
	return nil
}

func saveFiles(ctx context.Context, tx pgx.Tx, job string, files []jobs.LoadedFile, now time.Time) error {
	if len(files) == 0 {
		return nil
	}
	type key struct{ table, path string }
	at := map[key]int{}
	var tables, paths, modTimes []string
	var sizes []int64
	var loaded []time.Time
	for _, f := range files {
		if err := jobs.CheckSameJob(job, f.Job, f.Table); err != nil {
			return err
		}
		k := key{f.Table, f.Path}
		i, ok := at[k]
		if !ok {
			i = len(tables)
			at[k] = i
			tables, paths = append(tables, f.Table), append(paths, f.Path)
			sizes, modTimes, loaded = append(sizes, 0), append(modTimes, ""), append(loaded, time.Time{})
		}
		sizes[i], modTimes[i], loaded[i] = f.Size, formatModTime(f.ModTime), jobs.Stamp(cmp.Or(f.Loaded, now))
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO cubesync.loaded_files (job, table_name, path, size, mod_time, loaded_at)
		SELECT $1, t, p, s, m, l FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[]) AS x(t, p, s, m, l)
		ON CONFLICT (job, table_name, path) DO UPDATE
		SET size = excluded.size, mod_time = excluded.mod_time, loaded_at = excluded.loaded_at`,
		job, tables, paths, sizes, modTimes, loaded)
	if err != nil {
		return fmt.Errorf("save loaded files of job %q: %w", job, err)
	}
	return nil
}

// formatModTime keeps a file's modification time to the nanosecond, as text.
func formatModTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

const runColumns = `id, job, trigger, scheduled_at, started_at, ended_at, status, dataset_id, session_id, rows, bytes, chunks, error, host, attempt, tables, phase, pending, trace_id`

// runTables is the tables column's value: never NULL, an empty array for none.
func runTables(t []jobs.RunTable) []jobs.RunTable {
	if t == nil {
		return []jobs.RunTable{}
	}
	return t
}

func scanRuns(rows pgx.Rows) ([]jobs.Run, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobs.Run, error) {
		var r jobs.Run
		var scheduled, ended *time.Time
		err := row.Scan(&r.ID, &r.Job, &r.Trigger, &scheduled, &r.Started, &ended, &r.Status,
			&r.DatasetID, &r.SessionID, &r.Rows, &r.Bytes, &r.Chunks, &r.Error, &r.Host, &r.Attempt, &r.Tables, &r.Phase, &r.Pending, &r.TraceID)
		if len(r.Tables) == 0 {
			r.Tables = nil
		}
		r.Scheduled, r.Started, r.Ended = fromNull(scheduled), r.Started.UTC(), fromNull(ended)
		return r, err
	})
}

// UnfinishedRuns lists the job's runs still marked running or with a session to settle,
// oldest first.
func (s *Store) UnfinishedRuns(ctx context.Context, job string) ([]jobs.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM cubesync.runs WHERE job = $1 AND (status = 'running' OR phase <> '') ORDER BY id`, job)
	if err != nil {
		return nil, fmt.Errorf("read unfinished runs of job %q: %w", job, err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("read unfinished runs of job %q: %w", job, err)
	}
	return runs, nil
}

// Runs lists recent runs, newest first: of one job, or of every job when job is "". A limit
// below 1 lists every run.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]jobs.Run, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	// Two statements rather than "$1 = '' OR job = $1", which would keep the planner from
	// the (job, id) index.
	query, args := `SELECT `+runColumns+` FROM cubesync.runs ORDER BY id DESC LIMIT $1`, []any{lim}
	if job != "" {
		query, args = `SELECT `+runColumns+` FROM cubesync.runs WHERE job = $2 ORDER BY id DESC LIMIT $1`, []any{lim, job}
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return runs, nil
}

// DatasetID returns the dataset the job created, or an error wrapping jobs.ErrNotFound.
func (s *Store) DatasetID(ctx context.Context, job string) (string, error) {
	return s.datasetColumn(ctx, job, "dataset_id", "dataset id")
}

// datasetColumn reads one column of the job's row in cubesync.datasets, with an error
// wrapping jobs.ErrNotFound, naming what was asked for, when there is none.
func (s *Store) datasetColumn(ctx context.Context, job, column, what string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT `+column+` FROM cubesync.datasets WHERE job = $1`, job).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%s of job %q: %w", what, job, jobs.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read %s of job %q: %w", what, job, err)
	}
	return v, nil
}

// SetDatasetID remembers the dataset the job pushes into, and its name.
func (s *Store) SetDatasetID(ctx context.Context, job, datasetID, name string) error {
	if job == "" || datasetID == "" {
		return fmt.Errorf("set dataset id %q of job %q: both must be given", datasetID, job)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO cubesync.datasets (job, dataset_id, dataset_name, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job) DO UPDATE SET dataset_id = excluded.dataset_id, dataset_name = excluded.dataset_name,
			updated_at = excluded.updated_at`,
		job, datasetID, name, jobs.Stamp(s.now()))
	if err != nil {
		return fmt.Errorf("save dataset id of job %q: %w", job, err)
	}
	return nil
}

// DatasetName returns the name remembered with the job's dataset id.
func (s *Store) DatasetName(ctx context.Context, job string) (string, error) {
	return s.datasetColumn(ctx, job, "dataset_name", "dataset name")
}

// ForgetDatasetID drops the job's remembered dataset id.
func (s *Store) ForgetDatasetID(ctx context.Context, job string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM cubesync.datasets WHERE job = $1`, job); err != nil {
		return fmt.Errorf("forget dataset id of job %q: %w", job, err)
	}
	return nil
}

// Watermarks returns the job's watermarks keyed by table name.
func (s *Store) Watermarks(ctx context.Context, job string) (map[string]jobs.Watermark, error) {
	rows, err := s.pool.Query(ctx, `SELECT job, table_name, column_name, kind, value, updated_at FROM cubesync.watermarks WHERE job = $1`, job)
	if err != nil {
		return nil, fmt.Errorf("read watermarks of job %q: %w", job, err)
	}
	marks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobs.Watermark, error) {
		var w jobs.Watermark
		err := row.Scan(&w.Job, &w.Table, &w.Column, &w.Kind, &w.Value, &w.Updated)
		w.Updated = w.Updated.UTC()
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("read watermarks of job %q: %w", job, err)
	}
	out := make(map[string]jobs.Watermark, len(marks))
	for _, w := range marks {
		out[w.Table] = w
	}
	return out, nil
}

// SetWatermark saves a table's watermark; Updated defaults to now.
func (s *Store) SetWatermark(ctx context.Context, w jobs.Watermark) error {
	if w.Job == "" || w.Table == "" {
		return fmt.Errorf("set watermark of job %q table %q: both must be given", w.Job, w.Table)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return saveWatermarks(ctx, tx, w.Job, []jobs.Watermark{w}, jobs.Stamp(s.now()))
	})
}

// ClearWatermark forgets a table's watermark, or every table's when table is "".
func (s *Store) ClearWatermark(ctx context.Context, job, table string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM cubesync.watermarks WHERE job = $1 AND ($2 = '' OR table_name = $2)`, job, table)
	if err != nil {
		return fmt.Errorf("clear watermark of job %q: %w", job, err)
	}
	return nil
}

// LoadedFiles returns the files successful runs loaded for the table, keyed by path.
func (s *Store) LoadedFiles(ctx context.Context, job, table string) (map[string]jobs.LoadedFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, size, mod_time, loaded_at FROM cubesync.loaded_files WHERE job = $1 AND table_name = $2`, job, table)
	if err != nil {
		return nil, fmt.Errorf("read loaded files of job %q table %q: %w", job, table, err)
	}
	files, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobs.LoadedFile, error) {
		f := jobs.LoadedFile{Job: job, Table: table}
		var mod string
		if err := row.Scan(&f.Path, &f.Size, &mod, &f.Loaded); err != nil {
			return f, err
		}
		f.Loaded = f.Loaded.UTC()
		var err error
		if f.ModTime, err = time.Parse(time.RFC3339Nano, mod); err != nil {
			return f, fmt.Errorf("file %s: modification time %q is not RFC 3339", f.Path, mod)
		}
		return f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read loaded files of job %q table %q: %w", job, table, err)
	}
	out := make(map[string]jobs.LoadedFile, len(files))
	for _, f := range files {
		out[f.Path] = f
	}
	return out, nil
}

// ClaimSlot records the slot (job, at) as claimed and reports whether this call claimed it:
// of all replicas claiming a slot, exactly one gets true.
func (s *Store) ClaimSlot(ctx context.Context, job string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, fmt.Errorf("claim slot of job %q: the slot time is zero", job)
	}
	at = jobs.Stamp(at)
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO cubesync.slots (job, scheduled_at, claimed_by, claimed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, job, at, s.host, jobs.Stamp(s.now()))
	if err != nil {
		return false, fmt.Errorf("claim slot %s of job %q: %w", at.Format(time.RFC3339), job, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM cubesync.slots WHERE job = $1 AND scheduled_at < $2`, job, at.Add(-slotRetention)); err != nil {
		// The claim stands; old slots are removed by the next claim.
		s.logger.Warn("remove old slots", "job", job, "err", err)
	}
	return true, nil
}

// LastSlot returns the latest slot claimed for the job, or the zero time.
func (s *Store) LastSlot(ctx context.Context, job string) (time.Time, error) {
	var last *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(scheduled_at) FROM cubesync.slots WHERE job = $1`, job).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("read last slot of job %q: %w", job, err)
	}
	return fromNull(last), nil
}

var _ jobs.Store = (*Store)(nil)
