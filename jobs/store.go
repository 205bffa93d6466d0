package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run statuses as the state store records them.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted" // cancelled by a signal or shutdown
	StatusAbandoned   = "abandoned"   // died without finishing (found by a later run)
	StatusSkipped     = "skipped"     // another run of the job held its lock
	StatusMissed      = "missed"      // serve: no replica could start the slot within catchup_window
)

// Triggers say what started a run.
const (
	TriggerManual   = "manual"   // cubesync run-job
	TriggerSchedule = "schedule" // cubesync serve, on a cron slot
	TriggerCatchup  = "catchup"  // cubesync serve, a missed slot run at start
	// TriggerFullRefresh is a scheduled slot that is also a slot of the job's full_refresh
	// schedule: run with watermarks ignored and incremental tables replaced.
	TriggerFullRefresh = "full_refresh"
	// TriggerRequest is a run asked for with cubesync trigger or POST /api/jobs/NAME/run,
	// taken from the state store by a serve replica.
	TriggerRequest = "trigger"
)

// ErrLocked is returned by Store.Lock when another process holds the job's lock.
var ErrLocked = errors.New("job is already running elsewhere")

// LockedError is ErrLocked (errors.Is) naming the holder of the lock, when the store can
// tell: the host and pid of the process ("etl-1:4711"), or how the store sees it.
type LockedError struct {
	Holder string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v (held by %s)", ErrLocked, e.Holder)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockHolder returns who holds the lock that err reports, or "another process".
func LockHolder(err error) string {
	if le, ok := errors.AsType[*LockedError](err); ok && le.Holder != "" {
		return le.Holder
	}
	return "another process"
}

// ErrNotFound is returned when the store has no record of what was asked for.
var ErrNotFound = errors.New("not found")

// Run is one execution of a job as the state store records it.
type Run struct {
	ID        int64
	Job       string
	Trigger   string
	Scheduled time.Time // the cron slot; zero for manual runs
	Started   time.Time
	Ended     time.Time // zero while running
	Status    string
	DatasetID string
	SessionID string // the upload session, recorded as soon as it opens
	// Phase is where the run stands with its upload session, for a later run to settle what
	// it left behind (see Phase*): "" when nothing is left to do.
	Phase string
	// Pending is what the run will have loaded once its session is published: recorded
	// before the publish, committed by FinishRun with StatusSucceeded (by this run, or by
	// a later one that finds the session published).
	Pending *Pending
	Rows    int64
	Bytes   int64
	Chunks  int64
	Error   string
	Host    string // hostname and pid of the process that ran it
	Attempt int    // 1 for a run's first try, 2... for its retries
	// TraceID is the OpenTelemetry trace of the run (32 hex digits; every attempt of a run
	// shares it), or "" when tracing is off.
	TraceID string
	Tables  []RunTable
}

// RunTable is what a run did to one of its tables.
type RunTable struct {
	Name     string        `json:"name"`
	Policy   string        `json:"policy"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"` // JSON bytes before base64
	Chunks   int64         `json:"chunks"`
	Duration time.Duration `json:"duration_ns"`
}

// NoChanges reports whether the run succeeded without publishing anything: no table had
// rows and none is replace, so it opened no upload session (see Runner.Run).
func (r Run) NoChanges() bool {
	return r.Status == StatusSucceeded && r.SessionID == "" && r.Rows == 0
}

// Phases of a run's upload session, as the store records them before and after each call
// to the server, so that a run that dies or fails at any point leaves enough behind for the
// next run of the job to settle its session (README, "How a run works").
const (
	// PhaseNone: no upload session is open, or what was left is settled.
	PhaseNone = ""
	// PhaseOpening: the run is asking the server for an upload session (recorded before
	// POST .../uploadSessions); if it died there, the server may hold a session whose id
	// the store never saw.
	PhaseOpening = "opening"
	// PhaseOpen: upload session SessionID is open and being uploaded to; it holds only part
	// of the run's rows.
	PhaseOpen = "open"
	// PhasePublishing: every chunk is uploaded and Pending is recorded; the publish may
	// have been requested, and may have completed.
	PhasePublishing = "publishing"
)

// Pending is the state a run commits when its upload session is published, and what it
// pushed, for the history of a run whose publish a later run records.
type Pending struct {
	Watermarks []Watermark  `json:"watermarks,omitempty"`
	Files      []LoadedFile `json:"files,omitempty"`
	Rows       int64        `json:"rows,omitempty"`
	Bytes      int64        `json:"bytes,omitempty"`
	Chunks     int64        `json:"chunks,omitempty"`
	Tables     []RunTable   `json:"tables,omitempty"`
}

// Watermark is the incremental position of one table: the greatest value of its
// incremental column among the rows of the last successful run, in its canonical text form
// (RFC 3339 with microseconds for timestamps, YYYY-MM-DD for dates, decimal for integers).
type Watermark struct {
	Job     string
	Table   string
	Column  string
	Kind    string // "timestamptz", "timestamp", "date", "int"
	Value   string
	Updated time.Time
}

// LoadedFile is a Parquet file that a successful run has loaded, identified by path, size
// and modification time so a rewritten file counts as new.
type LoadedFile struct {
	Job     string
	Table   string
	Path    string
	Size    int64
	ModTime time.Time
	Loaded  time.Time
}

// RunRequest is a run of a job asked for now (cubesync trigger, POST /api/jobs/NAME/run),
// kept in the state store until a serve replica takes it.
type RunRequest struct {
	ID        int64
	Job       string
	Requested time.Time
	By        string    // who asked, for the log and history
	Taken     time.Time // zero while no replica has taken it
	TakenBy   string    // hostname:pid of the replica that took it
}

// Delivery is one notification sent (or given up on) about a run or a missed slot.
type Delivery struct {
	ID       int64
	Job      string
	RunID    int64 // the run it was about; 0 when none
	Notifier string
	Event    string // failure, recovery, success or missed
	Status   string // DeliveryDelivered or DeliveryFailed
	Attempts int
	Error    string // the last attempt's error, for a failed delivery
	At       time.Time
}

// Delivery statuses.
const (
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // every attempt failed
)

// Pause says a job's schedule is paused on every replica, since when and by whom.
type Pause struct {
	Job   string
	Since time.Time
	By    string
}

// Outcome is what a finished run hands to the store, applied in one transaction: the run's
// final record and, for a succeeded run only, the new watermarks and loaded files.
type Outcome struct {
	Status     string
	Rows       int64
	Bytes      int64
	Chunks     int64
	Error      string
	Tables     []RunTable // per table, as far as the run got
	Watermarks []Watermark
	Files      []LoadedFile
	// KeepSession leaves the run's phase, session and pending state for the next run to
	// settle: its cancel failed, or it cannot tell whether its publish completed. Without
	// it FinishRun clears them.
	KeepSession bool
}

// Store keeps what a job remembers between runs. Implementations: jobs/filestate (files
// under ./.cubesync, the default) and jobs/pgstate (a cubesync schema in Postgres). Both pass
// the conformance suite in jobs/storetest.
type Store interface {
	// Lock takes the job's exclusive lock, held until the lease's Unlock or the death of the
	// process, and watched: a lock lost meanwhile (its connection killed, its file removed)
	// closes the lease's Lost within seconds. It returns ErrLocked at once when another
	// holder has it.
	Lock(ctx context.Context, job string) (Lease, error)

	// StartRun records a new run with status running and returns it with its ID set.
	StartRun(ctx context.Context, r Run) (Run, error)
	// SetRunSession records the upload session of a running run: with sessionID "" that
	// it is about to ask for one on datasetID (PhaseOpening), else the session it opened,
	// the moment it opened (PhaseOpen). It fails for a run that is no longer running.
	SetRunSession(ctx context.Context, runID int64, datasetID, sessionID string) error
	// SetRunPending records what a running run commits once its session is published
	// (PhasePublishing), before it publishes. It fails for a run that is no longer running.
	SetRunPending(ctx context.Context, runID int64, p Pending) error
	// FinishRun ends a run: one still running, or one that ended leaving its session to
	// settle (Phase not ""), whose final record o then replaces. Watermarks and files in o
	// are saved in the same transaction, and only when o.Status is StatusSucceeded. The
	// phase and pending state are cleared unless o.KeepSession.
	FinishRun(ctx context.Context, runID int64, o Outcome) error
	// UnfinishedRuns lists the job's runs (oldest first) still marked running or that left
	// a session to settle (Phase not ""): under the job's lock, what earlier runs left.
	UnfinishedRuns(ctx context.Context, job string) ([]Run, error)
	// Runs lists recent runs, newest first; job "" means every job.
	Runs(ctx context.Context, job string, limit int) ([]Run, error)

	// DatasetID returns the dataset a job created earlier, or ErrNotFound.
	DatasetID(ctx context.Context, job string) (string, error)
	// SetDatasetID remembers the dataset the job pushes into and its name: as the job named
	// it when it was created, or as a later run found it on the server.
	SetDatasetID(ctx context.Context, job, datasetID, name string) error
	// DatasetName returns the name remembered with the job's dataset id: "" when none was
	// kept (an id remembered by an older version), ErrNotFound when no id is remembered.
	DatasetName(ctx context.Context, job string) (string, error)
	// ForgetDatasetID drops the job's remembered dataset id, so its next run creates a new
	// dataset (cubesync state forget-dataset). Forgetting none is not an error.
	ForgetDatasetID(ctx context.Context, job string) error

	// Watermarks returns the job's saved watermarks, keyed by table name.
	Watermarks(ctx context.Context, job string) (map[string]Watermark, error)
	SetWatermark(ctx context.Context, w Watermark) error
	// ClearWatermark forgets a table's watermark; table "" clears every table of the job.
	ClearWatermark(ctx context.Context, job, table string) error

	// LoadedFiles returns the files earlier successful runs loaded for a table, keyed by path.
	LoadedFiles(ctx context.Context, job, table string) (map[string]LoadedFile, error)

	// ClaimSlot records that the scheduled slot (job, at) is being run, and reports false if
	// some process claimed it before: every slot runs once, across replicas.
	ClaimSlot(ctx context.Context, job string, at time.Time) (bool, error)
	// LastSlot returns the latest claimed slot of a job, or the zero time.
	LastSlot(ctx context.Context, job string) (time.Time, error)

	// SetPaused pauses (paused = true) or resumes the job's schedule on every replica that
	// shares the store. Pausing a paused job keeps its first pause.
	SetPaused(ctx context.Context, job string, paused bool, by string) error
	// Paused returns the paused jobs, keyed by name.
	Paused(ctx context.Context) (map[string]Pause, error)
	// RequestRun records a request to run job now, for a serve replica to take.
	RequestRun(ctx context.Context, job, by string) (RunRequest, error)
	// PendingRequests lists the requests no replica has taken, oldest first.
	PendingRequests(ctx context.Context) ([]RunRequest, error)
	// TakeRequest marks a pending request as taken by this process and reports false when
	// another process took or withdrew it first: every request is taken once.
	TakeRequest(ctx context.Context, id int64) (bool, error)
	// Request returns a request by id, or ErrNotFound.
	Request(ctx context.Context, id int64) (RunRequest, error)
	// WithdrawRequest removes a request no replica has taken, and reports false when one had.
	WithdrawRequest(ctx context.Context, id int64) (bool, error)

	// RecordDelivery records a notification's delivery in the history.
	RecordDelivery(ctx context.Context, d Delivery) error
	// Deliveries lists a job's recent deliveries, newest first; job "" means every job.
	Deliveries(ctx context.Context, job string, limit int) ([]Delivery, error)

	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
