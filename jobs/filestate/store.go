package filestate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// formatVersion is written into every file; a newer cubesync may change the format and
// must then recognise the old one.
const formatVersion = 1

// meta is meta.json.
type meta struct {
	Version   int   `json:"version"`
	NextRunID int64 `json:"next_run_id"`
}

// jobFile is jobs/NAME.json: everything one job remembers.
type jobFile struct {
	Version   int    `json:"version"`
	Job       string `json:"job"`
	DatasetID string `json:"dataset_id,omitempty"`
	// DatasetName is the name remembered with DatasetID (jobs.Store.SetDatasetID).
	DatasetName string                           `json:"dataset_name,omitempty"`
	Runs        []runRecord                      `json:"runs"` // in ID order
	Watermarks  map[string]watermarkRecord       `json:"watermarks,omitempty"`
	Files       map[string]map[string]fileRecord `json:"loaded_files,omitempty"` // table → path
	Slots       []slotRecord                     `json:"slots,omitempty"`        // in time order
	Deliveries  []deliveryRecord                 `json:"deliveries,omitempty"`   // in ID order
}

type runRecord struct {
	ID        int64           `json:"id"`
	Trigger   string          `json:"trigger"`
	Scheduled time.Time       `json:"scheduled_at,omitzero"`
	Started   time.Time       `json:"started_at"`
	Ended     time.Time       `json:"ended_at,omitzero"`
	Status    string          `json:"status"`
	DatasetID string          `json:"dataset_id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	Phase     string          `json:"phase,omitempty"`
	Pending   *jobs.Pending   `json:"pending,omitempty"`
	Rows      int64           `json:"rows"`
	Bytes     int64           `json:"bytes"`
	Chunks    int64           `json:"chunks"`
	Error     string          `json:"error,omitempty"`
	Host      string          `json:"host,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
	Tables    []jobs.RunTable `json:"tables,omitempty"`
	TraceID   string          `json:"trace_id,omitempty"`
}

type watermarkRecord struct {
	Column  string    `json:"column"`
	Kind    string    `json:"kind"`
	Value   string    `json:"value"`
	Updated time.Time `json:"updated_at"`
}

type fileRecord struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"` // RFC 3339 with nanoseconds: kept exactly
	Loaded  time.Time `json:"loaded_at"`
}

type slotRecord struct {
	At        time.Time `json:"scheduled_at"`
	ClaimedBy string    `json:"claimed_by"`
	ClaimedAt time.Time `json:"claimed_at"`
}

func (r runRecord) run(job string) jobs.Run {
	return jobs.Run{
		ID: r.ID, Job: job, Trigger: r.Trigger, Scheduled: r.Scheduled, Started: r.Started, Ended: r.Ended,
		Status: r.Status, DatasetID: r.DatasetID, SessionID: r.SessionID, Phase: r.Phase, Pending: r.Pending,
		Rows: r.Rows, Bytes: r.Bytes, Chunks: r.Chunks, Error: r.Error, Host: r.Host,
		Attempt: max(r.Attempt, 1), Tables: r.Tables, TraceID: r.TraceID,
	}
}

// readJob reads a job's file without locking: files are replaced atomically, so a reader
// sees a whole file, the one before or the one after a concurrent write.
func (s *Store) readJob(job string) (*jobFile, error) {
	jf := &jobFile{Version: formatVersion, Job: job}
	if err := readJSON(s.jobPath(job), jf); err != nil {
		return nil, fmt.Errorf("job %q: %w", job, err)
	}
	if jf.Version > formatVersion {
		return nil, fmt.Errorf("job %q: state file %s has format %d, newer than this cubesync understands (%d): upgrade cubesync",
			job, s.jobPath(job), jf.Version, formatVersion)
	}
	return jf, nil
}

// update applies change to the job's file under the state lock and writes the result.
// Nothing is written when change fails.
func (s *Store) update(ctx context.Context, job string, change func(jf *jobFile) error) error {
	if err := s.check(ctx, job); err != nil {
		return err
	}
	unlock, err := s.lockState()
	if err != nil {
		return err
	}
	defer unlock()
	jf, err := s.readJob(job)
	if err != nil {
		return err
	}
	if err := change(jf); err != nil {
		return err
	}
	jf.Version = formatVersion
	if err := writeJSON(s.jobPath(job), jf); err != nil {
		return fmt.Errorf("job %q: %w", job, err)
	}
	return nil
}

// StartRun records r as a new running run with the next run id. Started defaults to now and
// Host to this process.
func (s *Store) StartRun(ctx context.Context, r jobs.Run) (jobs.Run, error) {
	if err := s.check(ctx, r.Job); err != nil {
		return jobs.Run{}, err
	}
	unlock, err := s.lockState()
	if err != nil {
		return jobs.Run{}, err
	}
	defer unlock()

	m := meta{Version: formatVersion, NextRunID: 1}
	metaPath := filepath.Join(s.dir, "meta.json")
	if err := readJSON(metaPath, &m); err != nil {
		return jobs.Run{}, err
	}
	jf, err := s.readJob(r.Job)
	if err != nil {
		return jobs.Run{}, err
	}
	// The id is taken from meta.json first: a crash between the two writes loses an id,
	// never hands one out twice.
	id := m.NextRunID
	if n := len(jf.Runs); n > 0 && jf.Runs[n-1].ID >= id {
		id = jf.Runs[n-1].ID + 1 // meta.json was lost or restored from an older backup
	}
	m.NextRunID = id + 1
	if err := writeJSON(metaPath, m); err != nil {
		return jobs.Run{}, err
	}

	rec := runRecord{
		ID: id, Trigger: r.Trigger, Scheduled: jobs.Stamp(r.Scheduled), Started: jobs.Stamp(cmp.Or(r.Started, s.now())),
		Status: jobs.StatusRunning, DatasetID: r.DatasetID, SessionID: r.SessionID, Host: cmp.Or(r.Host, s.host),
		Attempt: max(r.Attempt, 1), TraceID: r.TraceID,
	}
	jf.Runs = append(jf.Runs, rec)
	s.prune(jf)
	jf.Version = formatVersion
	if err := writeJSON(s.jobPath(r.Job), jf); err != nil {
		return jobs.Run{}, fmt.Errorf("job %q: %w", r.Job, err)
	}
	s.remember(id, r.Job)
	return rec.run(r.Job), nil
}

// unsettled reports whether a later run has something to do about r: it is still running,
// or it left an upload session to settle.
func (r runRecord) unsettled() bool {
	return r.Status == jobs.StatusRunning || r.Phase != jobs.PhaseNone
}

// prune keeps the job's newest finished runs up to the history size, and every unsettled
// run.
func (s *Store) prune(jf *jobFile) {
	finished := 0
	for _, r := range jf.Runs {
		if !r.unsettled() {
			finished++
		}
	}
	drop := finished - s.history
	if drop <= 0 {
		return
	}
	jf.Runs = slices.DeleteFunc(jf.Runs, func(r runRecord) bool {
		if drop > 0 && !r.unsettled() {
			drop--
			return true
		}
		return false
	})
}

func (s *Store) remember(id int64, job string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runJob[id] = job
}

// jobOf finds the job a run belongs to: from memory for runs this Store has seen, else by
// reading every job's file (a run started by another process, such as a dead one).
func (s *Store) jobOf(ctx context.Context, id int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	job, ok := s.runJob[id]
	s.mu.Unlock()
	if ok {
		return job, nil
	}
	files, err := s.jobFiles()
	if err != nil {
		return "", err
	}
	for _, jf := range files {
		for _, r := range jf.Runs {
			s.remember(r.ID, jf.Job)
			if r.ID == id {
				job, ok = jf.Job, true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("run %d: %w", id, jobs.ErrNotFound)
	}
	return job, nil
}

// jobFiles reads the files of every job.
func (s *Store) jobFiles() ([]*jobFile, error) {
	dir := filepath.Join(s.dir, "jobs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list state files: %w", err)
	}
	var out []*jobFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		jf := &jobFile{}
		if err := readJSON(filepath.Join(dir, name), jf); err != nil {
			return nil, err
		}
		if jf.Job == "" {
			continue // vanished between listing and reading: nothing to see
		}
		out = append(out, jf)
	}
	return out, nil
}

// updateRun applies change to run id under the state lock.
func (s *Store) updateRun(ctx context.Context, id int64, change func(jf *jobFile, r *runRecord) error) error {
	job, err := s.jobOf(ctx, id)
	if err != nil {
		return err
	}
	return s.update(ctx, job, func(jf *jobFile) error {
		i, found := slices.BinarySearchFunc(jf.Runs, id, func(r runRecord, id int64) int { return cmp.Compare(r.ID, id) })
		if !found {
			return fmt.Errorf("run %d of job %q: %w", id, job, jobs.ErrNotFound)
		}
		return change(jf, &jf.Runs[i])
	})
}

// SetRunSession records that run id is opening an upload session (sessionID "") or has
// opened one.
func (s *Store) SetRunSession(ctx context.Context, id int64, datasetID, sessionID string) error {
	return s.updateRun(ctx, id, func(jf *jobFile, r *runRecord) error {
		if r.Status != jobs.StatusRunning {
			return fmt.Errorf("run %d of job %q is already %s: its upload session is not recorded", id, jf.Job, r.Status)
		}
		r.DatasetID, r.SessionID, r.Phase, r.Pending = datasetID, sessionID, jobs.PhaseOpen, nil
		if sessionID == "" {
			r.Phase = jobs.PhaseOpening
		}
		return nil
	})
}

// SetRunPending records what run id commits once its session is published.
func (s *Store) SetRunPending(ctx context.Context, id int64, p jobs.Pending) error {
	return s.updateRun(ctx, id, func(jf *jobFile, r *runRecord) error {
		if r.Status != jobs.StatusRunning {
			return fmt.Errorf("run %d of job %q is already %s: its pending state is not recorded", id, jf.Job, r.Status)
		}
		if r.SessionID == "" {
			return fmt.Errorf("run %d of job %q has no upload session recorded: record it before its pending state", id, jf.Job)
		}
		for _, w := range p.Watermarks {
			if err := jobs.CheckSameJob(jf.Job, w.Job, w.Table); err != nil {
				return err
			}
		}
		for _, f := range p.Files {
			if err := jobs.CheckSameJob(jf.Job, f.Job, f.Table); err != nil {
				return err
			}
		}
		r.Phase, r.Pending = jobs.PhasePublishing, &p
		return nil
	})
}

// FinishRun ends a running run. For a succeeded run the watermarks and loaded files are
// written in the same file replacement as the run's status: all of it lands, or none.
func (s *Store) FinishRun(ctx context.Context, id int64, o jobs.Outcome) error {
	if err := jobs.CheckOutcome(o); err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	return s.updateRun(ctx, id, func(jf *jobFile, r *runRecord) error {
		if !r.unsettled() {
			return fmt.Errorf("run %d of job %q is already %s", id, jf.Job, r.Status)
		}
		now := jobs.Stamp(s.now())
		r.Status, r.Ended = o.Status, now
		r.Rows, r.Bytes, r.Chunks, r.Error, r.Tables = o.Rows, o.Bytes, o.Chunks, o.Error, o.Tables
		if !o.KeepSession {
			r.Phase, r.Pending = jobs.PhaseNone, nil
		}
		if o.Status != jobs.StatusSucceeded {
			return nil
		}
		for _, w := range o.Watermarks {
			if err := jobs.CheckSameJob(jf.Job, w.Job, w.Table); err != nil {
				return err
			}
			setWatermark(jf, w, now)
		}
		for _, f := range o.Files {
			if err := jobs.CheckSameJob(jf.Job, f.Job, f.Table); err != nil {
				return err
			}
			if jf.Files == nil {
				jf.Files = map[string]map[string]fileRecord{}
			}
			if jf.Files[f.Table] == nil {
				jf.Files[f.Table] = map[string]fileRecord{}
			}
			jf.Files[f.Table][f.Path] = fileRecord{Size: f.Size, ModTime: f.ModTime.UTC(), Loaded: jobs.Stamp(cmp.Or(f.Loaded, now))}
		}
		s.prune(jf)
		return nil
	})
}

func setWatermark(jf *jobFile, w jobs.Watermark, now time.Time) {
	if jf.Watermarks == nil {
		jf.Watermarks = map[string]watermarkRecord{}
	}
	jf.Watermarks[w.Table] = watermarkRecord{Column: w.Column, Kind: w.Kind, Value: w.Value, Updated: jobs.Stamp(cmp.Or(w.Updated, now))}
}

// UnfinishedRuns lists the job's runs still marked running or with a session to settle,
// oldest first.
func (s *Store) UnfinishedRuns(ctx context.Context, job string) ([]jobs.Run, error) {
	if err := s.check(ctx, job); err != nil {
		return nil, err
	}
	jf, err := s.readJob(job)
	if err != nil {
		return nil, err
	}
	var out []jobs.Run
	for _, r := range jf.Runs {
		if r.unsettled() {
			out = append(out, r.run(job))
		}
	}
	return out, nil
}

// Runs lists recent runs, newest first: of one job, or of every job when job is "". A limit
// below 1 lists every run kept.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]jobs.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var files []*jobFile
	if job == "" {
		var err error
		if files, err = s.jobFiles(); err != nil {
			return nil, err
		}
	} else {
		jf, err := s.readJob(job)
		if err != nil {
			return nil, err
		}
		files = []*jobFile{jf}
	}
	var out []jobs.Run
	for _, jf := range files {
		for _, r := range jf.Runs {
			out = append(out, r.run(jf.Job))
		}
	}
	slices.SortFunc(out, func(a, b jobs.Run) int { return cmp.Compare(b.ID, a.ID) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DatasetID returns the dataset the job created, or an error wrapping jobs.ErrNotFound.
func (s *Store) DatasetID(ctx context.Context, job string) (string, error) {
	jf, err := s.readDataset(ctx, job, "dataset id")
	return jf.DatasetID, err
}

// readDataset reads the job's file, with an error wrapping jobs.ErrNotFound, naming what
// was asked for, when no dataset id is remembered.
func (s *Store) readDataset(ctx context.Context, job, what string) (jobFile, error) {
	if err := s.check(ctx, job); err != nil {
		return jobFile{}, err
	}
	jf, err := s.readJob(job)
	if err != nil {
		return jobFile{}, err
	}
	if jf.DatasetID == "" {
		return jobFile{}, fmt.Errorf("%s of job %q: %w", what, job, jobs.ErrNotFound)
	}
	return *jf, nil
}

// SetDatasetID remembers the dataset the job pushes into, and its name.
func (s *Store) SetDatasetID(ctx context.Context, job, datasetID, name string) error {
	if datasetID == "" {
		return fmt.Errorf("job %q: dataset id is empty", job)
	}
	return s.update(ctx, job, func(jf *jobFile) error {
		jf.DatasetID, jf.DatasetName = datasetID, name
		return nil
	})
}

// DatasetName returns the name remembered with the job's dataset id.
func (s *Store) DatasetName(ctx context.Context, job string) (string, error) {
	jf, err := s.readDataset(ctx, job, "dataset name")
	return jf.DatasetName, err
}

// ForgetDatasetID drops the job's remembered dataset id.
func (s *Store) ForgetDatasetID(ctx context.Context, job string) error {
	return s.update(ctx, job, func(jf *jobFile) error {
		jf.DatasetID, jf.DatasetName = "", ""
		return nil
	})
}

// Watermarks returns the job's watermarks keyed by table name.
func (s *Store) Watermarks(ctx context.Context, job string) (map[string]jobs.Watermark, error) {
	if err := s.check(ctx, job); err != nil {
		return nil, err
	}
	jf, err := s.readJob(job)
	if err != nil {
		return nil, err
	}
	out := make(map[string]jobs.Watermark, len(jf.Watermarks))
	for table, w := range jf.Watermarks {
		out[table] = jobs.Watermark{Job: job, Table: table, Column: w.Column, Kind: w.Kind, Value: w.Value, Updated: w.Updated}
	}
	return out, nil
}

// SetWatermark saves a table's watermark; Updated defaults to now.
func (s *Store) SetWatermark(ctx context.Context, w jobs.Watermark) error {
	if w.Table == "" {
		return fmt.Errorf("job %q: watermark has no table name", w.Job)
	}
	return s.update(ctx, w.Job, func(jf *jobFile) error {
		setWatermark(jf, w, jobs.Stamp(s.now()))
		return nil
	})
}

// ClearWatermark forgets a table's watermark, or every table's when table is "".
func (s *Store) ClearWatermark(ctx context.Context, job, table string) error {
	return s.update(ctx, job, func(jf *jobFile) error {
		if table == "" {
			jf.Watermarks = nil
		} else {
			delete(jf.Watermarks, table)
		}
		return nil
	})
}

// LoadedFiles returns the files successful runs loaded for the table, keyed by path.
func (s *Store) LoadedFiles(ctx context.Context, job, table string) (map[string]jobs.LoadedFile, error) {
	if err := s.check(ctx, job); err != nil {
		return nil, err
	}
	jf, err := s.readJob(job)
	if err != nil {
		return nil, err
	}
	out := make(map[string]jobs.LoadedFile, len(jf.Files[table]))
	for path, f := range jf.Files[table] {
		out[path] = jobs.LoadedFile{Job: job, Table: table, Path: path, Size: f.Size, ModTime: f.ModTime, Loaded: f.Loaded}
	}
	return out, nil
}

// ClaimSlot records the slot (job, at) as claimed and reports whether this call claimed it.
// The newest slots are kept; once a job has many, a slot older than all of them counts as
// claimed, so an old slot is never run twice.
func (s *Store) ClaimSlot(ctx context.Context, job string, at time.Time) (bool, error) {
	at = jobs.Stamp(at)
	if at.IsZero() {
		return false, fmt.Errorf("claim slot of job %q: the slot time is zero", job)
	}
	claimed := false
	err := s.update(ctx, job, func(jf *jobFile) error {
		i, found := slices.BinarySearchFunc(jf.Slots, at, func(r slotRecord, at time.Time) int { return r.At.Compare(at) })
		if found || (i == 0 && len(jf.Slots) >= s.maxSlots) {
			return errUnchanged
		}
		jf.Slots = slices.Insert(jf.Slots, i, slotRecord{At: at, ClaimedBy: s.host, ClaimedAt: jobs.Stamp(s.now())})
		if n := len(jf.Slots) - s.maxSlots; n > 0 {
			jf.Slots = slices.Delete(jf.Slots, 0, n)
		}
		claimed = true
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim slot %s: %w", at.Format(time.RFC3339), err)
	}
	return claimed, nil
}

// errUnchanged stops an update that has nothing to write.
var errUnchanged = errors.New("unchanged")

// LastSlot returns the latest slot claimed for the job, or the zero time.
func (s *Store) LastSlot(ctx context.Context, job string) (time.Time, error) {
	if err := s.check(ctx, job); err != nil {
		return time.Time{}, err
	}
	jf, err := s.readJob(job)
	if err != nil {
		return time.Time{}, err
	}
	if len(jf.Slots) == 0 {
		return time.Time{}, nil
	}
	return jf.Slots[len(jf.Slots)-1].At, nil
}

var _ jobs.Store = (*Store)(nil)
