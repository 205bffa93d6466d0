package pgstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/jobs"
)

// requestRetention is how long taken run requests are kept, for `cubesync trigger` to
// report who took them.
const requestRetention = 30 * 24 * time.Hour

// SetPaused pauses or resumes the job's schedule for every replica.
func (s *Store) SetPaused(ctx context.Context, job string, paused bool, by string) error {
	if job == "" {
		return errors.New("job name is empty")
	}
	var err error
	if paused {
		_, err = s.pool.Exec(ctx, `INSERT INTO cubesync.paused (job, since, paused_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, job, jobs.Stamp(s.now()), by)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM cubesync.paused WHERE job = $1`, job)
	}
	if err != nil {
		return fmt.Errorf("set job %q paused=%v: %w", job, paused, err)
	}
	return nil
}

// Paused returns the paused jobs.
func (s *Store) Paused(ctx context.Context) (map[string]jobs.Pause, error) {
	rows, err := s.pool.Query(ctx, `SELECT job, since, paused_by FROM cubesync.paused`)
	if err != nil {
		return nil, fmt.Errorf("read paused jobs: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Pause, error) {
		var p jobs.Pause
		err := r.Scan(&p.Job, &p.Since, &p.By)
		p.Since = p.Since.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read paused jobs: %w", err)
	}
	out := make(map[string]jobs.Pause, len(list))
	for _, p := range list {
		out[p.Job] = p
	}
	return out, nil
}

// RequestRun records a request to run job now.
func (s *Store) RequestRun(ctx context.Context, job, by string) (jobs.RunRequest, error) {
	if job == "" {
		return jobs.RunRequest{}, errors.New("job name is empty")
	}
	r := jobs.RunRequest{Job: job, Requested: jobs.Stamp(s.now()), By: by}
	if err := s.pool.QueryRow(ctx, `
		INSERT INTO cubesync.run_requests (job, requested_at, requested_by) VALUES ($1, $2, $3) RETURNING id`,
		job, r.Requested, by).Scan(&r.ID); err != nil {
		return jobs.RunRequest{}, fmt.Errorf("request a run of job %q: %w", job, err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM cubesync.run_requests WHERE taken_at < $1`, r.Requested.Add(-requestRetention)); err != nil {
		s.logger.Warn("remove old run requests", "err", err)
	}
	return r, nil
}

const requestColumns = `id, job, requested_at, requested_by, taken_at, taken_by`

func scanRequest(row pgx.CollectableRow) (jobs.RunRequest, error) {
	var r jobs.RunRequest
	var taken *time.Time
	err := row.Scan(&r.ID, &r.Job, &r.Requested, &r.By, &taken, &r.TakenBy)
	r.Requested, r.Taken = r.Requested.UTC(), fromNull(taken)
	return r, err
}

// PendingRequests lists the requests no replica has taken, oldest first.
func (s *Store) PendingRequests(ctx context.Context) ([]jobs.RunRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM cubesync.run_requests WHERE taken_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read run requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("read run requests: %w", err)
	}
	return out, nil
}

// TakeRequest marks a pending request taken by this process.
func (s *Store) TakeRequest(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE cubesync.run_requests SET taken_at = $2, taken_by = $3 WHERE id = $1 AND taken_at IS NULL`,
		id, jobs.Stamp(s.now()), s.host)
	if err != nil {
		return false, fmt.Errorf("take run request %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Request returns a request by id.
func (s *Store) Request(ctx context.Context, id int64) (jobs.RunRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM cubesync.run_requests WHERE id = $1`, id)
	if err != nil {
		return jobs.RunRequest{}, fmt.Errorf("read run request %d: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRequest)
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.RunRequest{}, fmt.Errorf("run request %d: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return jobs.RunRequest{}, fmt.Errorf("read run request %d: %w", id, err)
	}
	return r, nil
}

// WithdrawRequest removes a request no replica has taken.
func (s *Store) WithdrawRequest(ctx context.Context, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM cubesync.run_requests WHERE id = $1 AND taken_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("withdraw run request %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
