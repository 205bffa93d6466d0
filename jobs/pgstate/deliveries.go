package pgstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/jobs"
)

// RecordDelivery records a notification's delivery.
func (s *Store) RecordDelivery(ctx context.Context, d jobs.Delivery) error {
	if d.Job == "" {
		return errors.New("job name is empty")
	}
	var runID *int64
	if d.RunID != 0 {
		runID = &d.RunID
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO cubesync.deliveries (job, run_id, notifier, event, status, attempts, error, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		d.Job, runID, d.Notifier, d.Event, d.Status, d.Attempts, d.Error, jobs.Stamp(cmp.Or(d.At, s.now())))
	if err != nil {
		return fmt.Errorf("record delivery to %q about job %q: %w", d.Notifier, d.Job, err)
	}
	return nil
}

// Deliveries lists recent deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, job string, limit int) ([]jobs.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, job, coalesce(run_id, 0), notifier, event, status, attempts, error, at
		FROM cubesync.deliveries WHERE $1 = '' OR job = $1 ORDER BY id DESC LIMIT $2`, job, limit)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Delivery, error) {
		var d jobs.Delivery
		err := r.Scan(&d.ID, &d.Job, &d.RunID, &d.Notifier, &d.Event, &d.Status, &d.Attempts, &d.Error, &d.At)
		d.At = d.At.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	return out, nil
}
