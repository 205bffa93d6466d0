package filestate

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// maxDeliveries is how many deliveries a job's file keeps.
const maxDeliveries = 1000

type deliveryRecord struct {
	ID       int64     `json:"id"`
	RunID    int64     `json:"run_id,omitempty"`
	Notifier string    `json:"notifier"`
	Event    string    `json:"event"`
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// RecordDelivery records a notification's delivery in the job's file.
func (s *Store) RecordDelivery(ctx context.Context, d jobs.Delivery) error {
	return s.update(ctx, d.Job, func(jf *jobFile) error {
		id := int64(1)
		if n := len(jf.Deliveries); n > 0 {
			id = jf.Deliveries[n-1].ID + 1
		}
		jf.Deliveries = append(jf.Deliveries, deliveryRecord{ID: id, RunID: d.RunID, Notifier: d.Notifier, Event: d.Event,
			Status: d.Status, Attempts: d.Attempts, Error: d.Error, At: jobs.Stamp(cmp.Or(d.At, s.now()))})
		if over := len(jf.Deliveries) - maxDeliveries; over > 0 {
			jf.Deliveries = slices.Delete(jf.Deliveries, 0, over)
		}
		return nil
	})
}

// Deliveries lists recent deliveries, newest first (by time across jobs).
func (s *Store) Deliveries(ctx context.Context, job string, limit int) ([]jobs.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var files []*jobFile
	if job != "" {
		if err := s.check(ctx, job); err != nil {
			return nil, err
		}
		jf, err := s.readJob(job)
		if err != nil {
			return nil, err
		}
		files = []*jobFile{jf}
	} else {
		if err := s.check(ctx, "deliveries"); err != nil {
			return nil, err
		}
		var err error
		if files, err = s.jobFiles(); err != nil {
			return nil, err
		}
	}
	var out []jobs.Delivery
	for _, jf := range files {
		for _, d := range jf.Deliveries {
			out = append(out, jobs.Delivery{ID: d.ID, Job: jf.Job, RunID: d.RunID, Notifier: d.Notifier, Event: d.Event,
				Status: d.Status, Attempts: d.Attempts, Error: d.Error, At: d.At})
		}
	}
	slices.SortStableFunc(out, func(a, b jobs.Delivery) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
