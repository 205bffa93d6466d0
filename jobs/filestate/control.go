package filestate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// maxRequests bounds the run requests control.json keeps (taken ones are dropped first).
const maxRequests = 1000

// controlFile is control.json: paused jobs and run requests, for every job.
type controlFile struct {
	Version       int                    `json:"version"`
	NextRequestID int64                  `json:"next_request_id"`
	Paused        map[string]pauseRecord `json:"paused,omitempty"`
	Requests      []requestRecord        `json:"requests,omitempty"` // in ID order
}

type pauseRecord struct {
	Since time.Time `json:"since"`
	By    string    `json:"by,omitempty"`
}

type requestRecord struct {
	ID        int64     `json:"id"`
	Job       string    `json:"job"`
	Requested time.Time `json:"requested_at"`
	By        string    `json:"requested_by,omitempty"`
	Taken     time.Time `json:"taken_at,omitzero"`
	TakenBy   string    `json:"taken_by,omitempty"`
}

func (r requestRecord) request() jobs.RunRequest {
	return jobs.RunRequest{ID: r.ID, Job: r.Job, Requested: r.Requested, By: r.By, Taken: r.Taken, TakenBy: r.TakenBy}
}

func (s *Store) controlPath() string { return filepath.Join(s.dir, "control.json") }

func (s *Store) readControl() (*controlFile, error) {
	cf := &controlFile{Version: formatVersion, NextRequestID: 1}
	if err := readJSON(s.controlPath(), cf); err != nil {
		return nil, err
	}
	if cf.Version > formatVersion {
		return nil, fmt.Errorf("state file %s has format %d, newer than this cubesync understands (%d): upgrade cubesync", s.controlPath(), cf.Version, formatVersion)
	}
	return cf, nil
}

// updateControl applies change to control.json under the state lock.
func (s *Store) updateControl(ctx context.Context, change func(cf *controlFile) error) error {
	if err := s.check(ctx, "control"); err != nil {
		return err
	}
	unlock, err := s.lockState()
	if err != nil {
		return err
	}
	defer unlock()
	cf, err := s.readControl()
	if err != nil {
		return err
	}
	if err := change(cf); err != nil {
		return err
	}
	cf.Version = formatVersion
	return writeJSON(s.controlPath(), cf)
}

// SetPaused pauses or resumes the job's schedule.
func (s *Store) SetPaused(ctx context.Context, job string, paused bool, by string) error {
	if job == "" {
		return errors.New("job name is empty")
	}
	return s.updateControl(ctx, func(cf *controlFile) error {
		if !paused {
			delete(cf.Paused, job)
			return nil
		}
		if _, ok := cf.Paused[job]; ok {
			return nil
		}
		if cf.Paused == nil {
			cf.Paused = map[string]pauseRecord{}
		}
		cf.Paused[job] = pauseRecord{Since: jobs.Stamp(s.now()), By: by}
		return nil
	})
}

// Paused returns the paused jobs.
func (s *Store) Paused(ctx context.Context) (map[string]jobs.Pause, error) {
	if err := s.check(ctx, "control"); err != nil {
		return nil, err
	}
	cf, err := s.readControl()
	if err != nil {
		return nil, err
	}
	out := make(map[string]jobs.Pause, len(cf.Paused))
	for job, p := range cf.Paused {
		out[job] = jobs.Pause{Job: job, Since: p.Since, By: p.By}
	}
	return out, nil
}

// RequestRun records a request to run job now.
func (s *Store) RequestRun(ctx context.Context, job, by string) (jobs.RunRequest, error) {
	if job == "" {
		return jobs.RunRequest{}, errors.New("job name is empty")
	}
	var rec requestRecord
	err := s.updateControl(ctx, func(cf *controlFile) error {
		rec = requestRecord{ID: cf.NextRequestID, Job: job, Requested: jobs.Stamp(s.now()), By: by}
		cf.NextRequestID++
		cf.Requests = append(cf.Requests, rec)
		for len(cf.Requests) > maxRequests {
			i := slices.IndexFunc(cf.Requests, func(r requestRecord) bool { return !r.Taken.IsZero() })
			if i < 0 {
				i = 0
			}
			cf.Requests = slices.Delete(cf.Requests, i, i+1)
		}
		return nil
	})
	return rec.request(), err
}

// PendingRequests lists the requests no replica has taken, oldest first.
func (s *Store) PendingRequests(ctx context.Context) ([]jobs.RunRequest, error) {
	if err := s.check(ctx, "control"); err != nil {
		return nil, err
	}
	cf, err := s.readControl()
	if err != nil {
		return nil, err
	}
	var out []jobs.RunRequest
	for _, r := range cf.Requests {
		if r.Taken.IsZero() {
			out = append(out, r.request())
		}
	}
	return out, nil
}

// TakeRequest marks a pending request taken by this process.
func (s *Store) TakeRequest(ctx context.Context, id int64) (bool, error) {
	took := false
	err := s.updateControl(ctx, func(cf *controlFile) error {
		for i := range cf.Requests {
			if r := &cf.Requests[i]; r.ID == id && r.Taken.IsZero() {
				r.Taken, r.TakenBy, took = jobs.Stamp(s.now()), s.host, true
			}
		}
		return nil
	})
	return took, err
}

// Request returns a request by id.
func (s *Store) Request(ctx context.Context, id int64) (jobs.RunRequest, error) {
	if err := s.check(ctx, "control"); err != nil {
		return jobs.RunRequest{}, err
	}
	cf, err := s.readControl()
	if err != nil {
		return jobs.RunRequest{}, err
	}
	for _, r := range cf.Requests {
		if r.ID == id {
			return r.request(), nil
		}
	}
	return jobs.RunRequest{}, fmt.Errorf("run request %d: %w", id, jobs.ErrNotFound)
}

// WithdrawRequest removes a request no replica has taken.
func (s *Store) WithdrawRequest(ctx context.Context, id int64) (bool, error) {
	removed := false
	err := s.updateControl(ctx, func(cf *controlFile) error {
		cf.Requests = slices.DeleteFunc(cf.Requests, func(r requestRecord) bool {
			if r.ID == id && r.Taken.IsZero() {
				removed = true
				return true
			}
			return false
		})
		return nil
	})
	return removed, err
}
