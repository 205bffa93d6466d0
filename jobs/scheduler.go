package jobs

// The scheduler, one cohesive thing: a loop per job that waits for its next slot, claims it
// in the store, applies the overlap policy, the catch-up window and max_concurrent_runs, runs
// it and shuts down with a grace period. It is kept in one file so that the life of a slot
// reads top to bottom.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cubesync/cubesync/clock"
)

// Schedule says when a job runs next. robfig/cron's cron.Schedule satisfies it; its Next
// returns the first slot strictly after t, or the zero time when there is none.
//
// Daylight saving time, as robfig computes it for a CRON_TZ zone: a wall-clock time that
// does not exist on the spring-forward day (02:30 in Europe/Berlin on the last Sunday of
// March) is skipped that day, and one that happens twice on the fall-back day (02:30 on the
// last Sunday of October) yields two slots an hour apart. Both are distinct instants, so
// each is claimed and run once. Schedules that must run exactly once a day whatever the
// zone should avoid 02:00–03:00 local time or use UTC.
type Schedule interface {
	Next(t time.Time) time.Time
}

// JobRunner runs a job once; *Runner is the implementation the scheduler is given outside
// tests.
type JobRunner interface {
	Run(ctx context.Context, job *Job, opts RunOptions) (*Result, error)
}

// loggingRunner is implemented by runners that can run with a given logger (*Runner does),
// so each scheduled run logs its slot on every line.
type loggingRunner interface {
	withLogger(log *slog.Logger) JobRunner
}

func (r *Runner) withLogger(log *slog.Logger) JobRunner {
	c := *r
	c.Logger = log
	return &c
}

// Reasons a slot was not run, as SchedulerObserver.SlotSkipped reports them.
const (
	SkipRunning = "running" // overlap = skip and this replica is running the job
	SkipLocked  = "locked"  // another process holds the job's lock
	SkipMissed  = "missed"  // the slot passed while nothing ran and is older than catchup_window
	SkipWaiting = "waiting" // overlap = wait and another slot is already waiting
	SkipClaim   = "claim_failed"
	SkipPaused  = "paused" // the job is paused (cubesync pause)
)

// ErrRunsCancelled is returned by Scheduler.Run when the shutdown grace period ended with
// runs still going: they were cancelled (their upload sessions too) and recorded as
// interrupted.
var ErrRunsCancelled = errors.New("running jobs were cancelled at shutdown")

// SchedulerObserver is told what the scheduler does, for metrics. Calls may come from
// several goroutines at once.
type SchedulerObserver interface {
	// RunStarted is called before a slot's run starts, RunEnded after it returns (err wraps
	// ErrLocked when another process held the job's lock and nothing ran).
	RunStarted(job string, slot time.Time)
	RunEnded(job string, slot time.Time, res *Result, err error)
	// SlotSkipped is called for each slot that does not run, with one of the Skip* reasons.
	SlotSkipped(job string, slot time.Time, reason string)
}

// JobStatus is what the scheduler knows of one job right now.
type JobStatus struct {
	Job          string
	Schedule     string
	Next         time.Time // zero when the schedule has no further slot or scheduling stopped
	Running      bool
	RunningSlot  time.Time
	RunningSince time.Time
	Waiting      time.Time // overlap = wait: the slot waiting for the running one
	Skipped      int64     // slots skipped since start
}

// Scheduler runs jobs on their cron schedules: each slot (job, time) is claimed in the
// store first, so that across replicas sharing a store every slot runs once, and is then run
// by Runner with the job's overlap policy, timeout and retries.
type Scheduler struct {
	Store    Store
	Runner   JobRunner
	Logger   *slog.Logger
	Clock    clock.Clock       // clock.Wall when nil; give the Runner the same one
	Observer SchedulerObserver // optional
	// ShutdownGrace is how long running jobs may go on once scheduling stops.
	ShutdownGrace time.Duration
	// LockPoll is how often a slot with overlap = wait tries again for a lock another
	// process holds (default 1s).
	LockPoll time.Duration
	// MaxConcurrentRuns bounds the runs this scheduler has going at once; 0 = no bound. A
	// slot due while every place is taken is not claimed, so a replica sharing the store
	// with room takes it; this one claims it only if one of its own runs ends first. A slot
	// no replica starts within the job's catchup_window is recorded as missed.
	MaxConcurrentRuns int
	// RequestPoll is how often the store is asked for runs requested with cubesync
	// trigger (default 2s).
	RequestPoll time.Duration
	// Notify, if set, tells the jobs' notifiers about finished runs and missed slots.
	Notify *Notifications

	mu     sync.Mutex
	phase  string
	states []*jobState
	places chan struct{} // one token per run going, when MaxConcurrentRuns > 0
}

// Scheduler phases, as Phase reports them.
const (
	PhaseIdle     = "idle"
	PhaseRunning  = "running"
	PhaseStopping = "stopping"
	PhaseStopped  = "stopped"
)

type jobState struct {
	job   *Job
	sched Schedule
	log   *slog.Logger

	mu           sync.Mutex
	next         time.Time
	running      bool
	runningSlot  time.Time
	runningSince time.Time
	pending      *slotRun
	skipped      int64
}

type slotRun struct {
	slot    time.Time // the cron slot: what is claimed and recorded; zero for a request
	due     time.Time // when it starts: the slot plus the job's jitter
	trigger string
	request int64 // the RunRequest's id, for a requested run
}

// slotRunAt is the run of the cron slot at, with trigger full_refresh when the job's
// full_refresh schedule has a slot at the same instant.
func slotRunAt(job *Job, at time.Time, trigger string) slotRun {
	if job.FullRefreshAt(at) {
		trigger = TriggerFullRefresh
	}
	return slotRun{slot: at, due: at.Add(job.JitterOffset()), trigger: trigger}
}

func (s *Scheduler) clock() clock.Clock { return clock.Or(s.Clock) }

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Scheduler) setPhase(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = p
}

// Phase reports whether the scheduling loop is idle (not started), running, stopping
// (waiting for running jobs) or stopped.
func (s *Scheduler) Phase() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cmp.Or(s.phase, PhaseIdle)
}

// Status returns every scheduled job's state, in the order Run was given them.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	states := s.states
	s.mu.Unlock()
	out := make([]JobStatus, len(states))
	for i, js := range states {
		js.mu.Lock()
		out[i] = JobStatus{Job: js.job.Name, Schedule: js.job.Schedule, Next: js.next, Running: js.running,
			RunningSlot: js.runningSlot, RunningSince: js.runningSince, Skipped: js.skipped}
		if js.pending != nil {
			out[i].Waiting = js.pending.slot
		}
		js.mu.Unlock()
	}
	return out
}

// Run schedules jobs until ctx ends (jobs without a schedule are ignored). Then no new run
// starts; running jobs get ShutdownGrace to finish, after which they are cancelled: their
// upload sessions are cancelled and their runs recorded as interrupted. Run returns nil when
// every run finished within the grace period and ErrRunsCancelled when it had to cancel.
func (s *Scheduler) Run(ctx context.Context, jobs []*Job) error {
	if s.Store == nil || s.Runner == nil {
		return errors.New("scheduler: Store and Runner must be set")
	}
	var states []*jobState
	for _, j := range jobs {
		if j.ScheduleSpec == nil {
			continue
		}
		states = append(states, &jobState{job: j, sched: j.Slots(), log: s.logger().With("job", j.Name)})
	}
	s.mu.Lock()
	s.states = states
	s.phase = PhaseRunning
	if s.MaxConcurrentRuns > 0 {
		s.places = make(chan struct{}, s.MaxConcurrentRuns)
	}
	s.mu.Unlock()

	// Runs outlive the scheduling context by the grace period: they get their own.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	var loops, runs sync.WaitGroup
	for _, js := range states {
		loops.Go(func() { s.loop(ctx, runCtx, js, &runs) })
	}
	loops.Go(func() { s.serveRequests(ctx, runCtx, states, &runs) })
	s.logger().Info("scheduler started", "jobs", len(states))
	loops.Wait()

	s.setPhase(PhaseStopping)
	done := make(chan struct{})
	go func() { runs.Wait(); close(done) }()
	if running := s.runningJobs(); len(running) > 0 {
		s.logger().Info("stopping: no new runs; waiting for running jobs", "running", running, "grace", s.ShutdownGrace.String())
	}
	graceCtx, stopGrace := context.WithCancel(context.Background())
	defer stopGrace()
	graceOver := make(chan struct{})
	go func() {
		if s.clock().Sleep(graceCtx, s.ShutdownGrace) == nil {
			close(graceOver)
		}
	}()
	select {
	case <-done:
		s.setPhase(PhaseStopped)
		s.logger().Info("scheduler stopped")
		return nil
	case <-graceOver:
	}
	running := s.runningJobs()
	s.logger().Warn("shutdown grace period over: cancelling running jobs", "running", running, "grace", s.ShutdownGrace.String())
	cancelRuns()
	<-done
	s.setPhase(PhaseStopped)
	s.logger().Info("scheduler stopped")
	return fmt.Errorf("%w: %v", ErrRunsCancelled, running)
}

func (s *Scheduler) runningJobs() []string {
	var names []string
	for _, st := range s.Status() {
		if st.Running {
			names = append(names, st.Job)
		}
	}
	return names
}

// loop schedules one job until ctx ends: first the catch-up of slots missed while no
// process was scheduling it, then every slot as it comes.
func (s *Scheduler) loop(ctx, runCtx context.Context, js *jobState, runs *sync.WaitGroup) {
	defer js.setNext(time.Time{})
	now := s.clock().Now()
	s.catchUp(ctx, runCtx, js, now, runs)
	cursor := now
	for ctx.Err() == nil {
		next := js.sched.Next(cursor)
		if next.IsZero() {
			js.log.Warn("schedule has no further slot: the job will not run again", "schedule", js.job.Schedule)
			return
		}
		sr := slotRunAt(js.job, next, TriggerSchedule)
		js.setNext(sr.due)
		if s.clock().Sleep(ctx, sr.due.Sub(s.clock().Now())) != nil || ctx.Err() != nil {
			return
		}
		// Slots long past (the process was suspended, the clock jumped) are missed, as at
		// start; slots just past are run in order, so a busy moment loses none.
		if now, w := s.clock().Now(), startWithin(js.job); now.Sub(sr.due) > w {
			from := now.Add(-w - js.job.JitterOffset())
			s.missed(js, cursor, from, "slots missed while the scheduler was held up: older than catchup_window, not run")
			cursor = from
			continue
		}
		s.fire(ctx, runCtx, js, sr, runs)
		cursor = next
	}
}

// maxMissedScan bounds how many slots are counted when logging missed ones (a job every
// second down for a month has millions).
const maxMissedScan = 100_000

// catchUp runs, once, the latest slot missed while no process scheduled the job if it is
// within the job's catchup_window, and logs older missed slots. A job that never claimed a
// slot has missed nothing.
func (s *Scheduler) catchUp(ctx, runCtx context.Context, js *jobState, now time.Time, runs *sync.WaitGroup) {
	last, err := s.Store.LastSlot(ctx, js.job.Name)
	if err != nil {
		js.log.Error("read last slot: missed slots cannot be caught up", "err", err)
		return
	}
	if last.IsZero() {
		return
	}
	// A slot is due at its time plus the job's jitter; the window counts from then.
	off := js.job.JitterOffset()
	from := last
	if w := js.job.CatchupWindow; w > 0 && now.Add(-w-off).After(from) {
		from = now.Add(-w - off)
	}
	var latest time.Time
	if js.job.CatchupWindow > 0 {
		for t := js.sched.Next(from); !t.IsZero() && !t.Add(off).After(now); t = js.sched.Next(t) {
			latest = t
		}
	}
	if latest.IsZero() {
		s.missed(js, last, now.Add(-off), "slots missed while cubesync was not running: older than catchup_window, not run")
		return
	}
	s.missed(js, last, latest.Add(-time.Nanosecond), "slots missed while cubesync was not running: only the latest is caught up")
	js.log.Info("catching up a slot missed while cubesync was not running", "slot", latest, "late", now.Sub(latest).Round(time.Second))
	s.fire(ctx, runCtx, js, slotRunAt(js.job, latest, TriggerCatchup), runs)
}

// missed logs the slots in (after, upTo] as missed, in one line.
func (s *Scheduler) missed(js *jobState, after, upTo time.Time, msg string) {
	var first, last time.Time
	n := 0
	for t := js.sched.Next(after); !t.IsZero() && !t.After(upTo); t = js.sched.Next(t) {
		if n == 0 {
			first = t
		}
		last = t
		n++
		if n == maxMissedScan {
			break
		}
	}
	if n == 0 {
		return
	}
	count := fmt.Sprint(n)
	if n == maxMissedScan {
		count = fmt.Sprintf("more than %d", n)
	}
	js.log.Warn(msg, "count", count, "first", first, "last", last,
		"catchup_window", js.job.CatchupWindow.String())
	js.mu.Lock()
	js.skipped += int64(n)
	js.mu.Unlock()
	if s.Observer != nil {
		for t, i := js.sched.Next(after), 0; i < n; t, i = js.sched.Next(t), i+1 {
			s.Observer.SlotSkipped(js.job.Name, t, SkipMissed)
		}
	}
}

func (js *jobState) setNext(t time.Time) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.next = t
}

func (s *Scheduler) skip(js *jobState, sr slotRun, reason string, msg string, args ...any) {
	js.mu.Lock()
	js.skipped++
	js.mu.Unlock()
	js.log.Warn(msg, append([]any{"slot", sr.slot, "reason", reason}, args...)...)
	if s.Observer != nil {
		s.Observer.SlotSkipped(js.job.Name, sr.slot, reason)
	}
}

// fire claims a slot and, if this process won it, runs it per the job's overlap policy.
// A slot that would start a run takes one of the scheduler's run places first (waiting for
// one while all are taken), so a replica at max_concurrent_runs claims nothing.
func (s *Scheduler) fire(ctx, runCtx context.Context, js *jobState, sr slotRun, runs *sync.WaitGroup) {
	if paused, err := s.Store.Paused(ctx); err != nil {
		js.log.Warn("read paused jobs: scheduling as if not paused", "err", err)
	} else if p, ok := paused[js.job.Name]; ok {
		// Claimed all the same, so that no replica catches it up after a resume.
		if won, err := s.Store.ClaimSlot(ctx, js.job.Name, sr.slot); err == nil && won {
			s.skip(js, sr, SkipPaused, "slot skipped: the job is paused", "paused_since", p.Since, "paused_by", p.By)
		}
		return
	}
	js.mu.Lock()
	busy := js.running // the slot will wait or be skipped, not start a run of its own
	js.mu.Unlock()
	placed, waited := false, false
	if !busy && s.places != nil {
		var ok bool
		if ok, waited = s.takePlace(ctx, js, sr); !ok {
			return
		}
		placed = true
	}
	release := func() {
		if placed {
			<-s.places
		}
	}
	won, err := s.Store.ClaimSlot(ctx, js.job.Name, sr.slot)
	if err != nil {
		release()
		if ctx.Err() == nil {
			s.skip(js, sr, SkipClaim, "slot not run: it could not be claimed in the state store", "err", err)
		}
		return
	}
	if !won {
		release()
		if waited {
			js.log.Info(leftSlotClaimed, "slot", sr.slot)
		} else {
			js.log.Debug("slot claimed by another replica", "slot", sr.slot)
		}
		return
	}
	js.mu.Lock()
	if js.running {
		release()
		running := js.runningSlot
		if js.job.Overlap == OverlapWait && js.pending == nil {
			js.pending = &sr
			js.mu.Unlock()
			js.log.Info("slot waiting for the running one to end", "slot", sr.slot, "running_slot", running)
			return
		}
		js.mu.Unlock()
		if js.job.Overlap == OverlapWait {
			s.skip(js, sr, SkipWaiting, "slot skipped: the job is running and another slot is already waiting", "running_slot", running)
			return
		}
		s.skip(js, sr, SkipRunning, "slot skipped: the job's previous run is still running", "running_slot", running)
		return
	}
	js.running, js.runningSlot, js.runningSince = true, sr.slot, s.clock().Now()
	js.mu.Unlock()
	runs.Go(func() {
		defer release()
		s.runSlots(ctx, runCtx, js, sr)
	})
}

// serveRequests takes the runs requested with cubesync trigger for this scheduler's jobs
// from the store and runs them, until ctx ends. A request waits while its job runs here or
// every run place is taken: another replica may take it meanwhile.
func (s *Scheduler) serveRequests(ctx, runCtx context.Context, states []*jobState, runs *sync.WaitGroup) {
	byName := map[string]*jobState{}
	for _, js := range states {
		byName[js.job.Name] = js
	}
	// Requests come from people in real time: the poll runs on the wall clock, not on the
	// scheduler's Clock, so a test's fake clock only ever holds schedule times.
	tick := time.NewTicker(cmp.Or(s.RequestPoll, 2*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pending, err := s.Store.PendingRequests(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.logger().Warn("read run requests", "err", err)
			}
			continue
		}
		for _, req := range pending {
			js := byName[req.Job]
			if js == nil {
				continue // a job this replica does not schedule
			}
			s.startRequest(ctx, runCtx, js, req, runs)
		}
	}
}

// startRequest takes req and runs it, when the job is not running here and a run place is
// free.
func (s *Scheduler) startRequest(ctx, runCtx context.Context, js *jobState, req RunRequest, runs *sync.WaitGroup) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.running {
		return
	}
	placed := false
	if s.places != nil {
		select {
		case s.places <- struct{}{}:
			placed = true
		default:
			return
		}
	}
	release := func() {
		if placed {
			<-s.places
		}
	}
	won, err := s.Store.TakeRequest(ctx, req.ID)
	if err != nil || !won {
		release()
		if err != nil && ctx.Err() == nil {
			js.log.Warn("take run request", "request", req.ID, "err", err)
		}
		return
	}
	js.log.Info("running the requested run", "request", req.ID, "requested_by", req.By, "requested_at", req.Requested)
	sr := slotRun{trigger: TriggerRequest, request: req.ID}
	js.running, js.runningSlot, js.runningSince = true, time.Time{}, s.clock().Now()
	runs.Go(func() {
		defer release()
		s.runSlots(ctx, runCtx, js, sr)
	})
}

// onTimeGrace is how late a slot of a job with catchup_window = 0 (no catching up) may still
// start: long enough for a replica with a free run place to claim it, so that a replica at
// its limit does not record as missed a slot another would have run.
const onTimeGrace = 10 * time.Second

// startWithin is how long after it is due a slot of job may still start; a slot that has
// not started by then is missed.
func startWithin(job *Job) time.Duration {
	if job.CatchupWindow == 0 {
		return onTimeGrace
	}
	return job.CatchupWindow
}

// leftSlotClaimed ends the story of a slot this replica left at max_concurrent_runs: another
// replica claimed it. Logged at Info, like the leaving, so that every slot left has an end.
const leftSlotClaimed = "left slot claimed by another replica"

// takePlace takes one of the scheduler's run places for sr, waiting while every place is
// taken; waited says whether it had to. It reports ok false when ctx ends first, or when
// the job's catchup_window passes with no place free: the slot is then recorded as missed,
// unless another replica took it.
func (s *Scheduler) takePlace(ctx context.Context, js *jobState, sr slotRun) (ok, waited bool) {
	select {
	case s.places <- struct{}{}:
		return true, false
	default:
	}
	js.log.Info("at max_concurrent_runs: leaving the slot to a replica with room", "slot", sr.slot, "max_concurrent_runs", cap(s.places))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	expired := make(chan struct{})
	go func() {
		if s.clock().Sleep(wctx, sr.due.Add(startWithin(js.job)).Sub(s.clock().Now())) == nil {
			close(expired)
		}
	}()
	select {
	case s.places <- struct{}{}:
		return true, true
	case <-ctx.Done():
		return false, true
	case <-expired:
	}
	within := fmt.Sprintf("within catchup_window (%s)", js.job.CatchupWindow)
	if js.job.CatchupWindow == 0 {
		within = fmt.Sprintf("on time (catchup_window = 0: within %s of its time)", onTimeGrace)
	}
	s.recordMissed(ctx, js, sr, fmt.Sprintf("no replica had room to start the slot %s: this one was at max_concurrent_runs = %d, and no other claimed it", within, cap(s.places)))
	return false, true
}

// recordMissed claims a slot that nobody could run and records it in the history as a
// missed run with its reason. A replica that claimed it meanwhile has run it: nothing is
// recorded then, and the log says another replica claimed it.
func (s *Scheduler) recordMissed(ctx context.Context, js *jobState, sr slotRun, reason string) {
	won, err := s.Store.ClaimSlot(ctx, js.job.Name, sr.slot)
	if err != nil {
		if ctx.Err() == nil {
			js.log.Error("record missed slot: claim failed", "slot", sr.slot, "err", err)
		}
		return
	}
	if !won {
		js.log.Info(leftSlotClaimed, "slot", sr.slot)
		return
	}
	run, err := s.Store.StartRun(ctx, Run{Job: js.job.Name, Trigger: sr.trigger, Scheduled: sr.slot, Started: s.clock().Now()})
	if err == nil {
		err = s.Store.FinishRun(ctx, run.ID, Outcome{Status: StatusMissed, Error: reason})
	}
	if err != nil {
		js.log.Error("record missed slot in the history", "slot", sr.slot, "err", err)
	}
	s.skip(js, sr, SkipMissed, "slot missed: "+reason)
	s.Notify.SlotMissed(ctx, js.job, run.ID, sr.slot, reason)
}

// recordSkipped records a requested run that could not start (its job held elsewhere) in
// the history as skipped, with the reason, and logs it.
func (s *Scheduler) recordSkipped(ctx context.Context, js *jobState, sr slotRun, reason string) {
	run, err := s.Store.StartRun(ctx, Run{Job: js.job.Name, Trigger: sr.trigger, Started: s.clock().Now()})
	if err == nil {
		err = s.Store.FinishRun(ctx, run.ID, Outcome{Status: StatusSkipped, Error: reason})
	}
	if err != nil {
		js.log.Error("record skipped run in the history", "request", sr.request, "err", err)
	}
	js.mu.Lock()
	js.skipped++
	js.mu.Unlock()
	js.log.Warn("requested run skipped", "request", sr.request, "run", run.ID, "reason", reason)
}

// runSlots runs sr, then the slot that waited for it (overlap = wait), until none waits or
// scheduling has stopped.
func (s *Scheduler) runSlots(ctx, runCtx context.Context, js *jobState, sr slotRun) {
	for {
		s.runSlot(ctx, runCtx, js, sr)
		js.mu.Lock()
		p := js.pending
		js.pending = nil
		if p == nil || ctx.Err() != nil {
			js.running, js.runningSlot, js.runningSince = false, time.Time{}, time.Time{}
			js.mu.Unlock()
			if p != nil {
				js.log.Info("waiting slot not run: shutting down", "slot", p.slot)
			}
			return
		}
		js.runningSlot, js.runningSince = p.slot, s.clock().Now()
		js.mu.Unlock()
		sr = *p
	}
}

// runSlot runs one claimed slot; the Runner enforces the job's timeout.
func (s *Scheduler) runSlot(ctx, runCtx context.Context, js *jobState, sr slotRun) {
	log := s.logger().With("slot", sr.slot)
	if sr.request != 0 {
		log = s.logger().With("request", sr.request)
	}
	runner := s.Runner
	if lr, ok := runner.(loggingRunner); ok {
		runner = lr.withLogger(log)
	}
	log = log.With("job", js.job.Name)
	for {
		if s.Observer != nil {
			s.Observer.RunStarted(js.job.Name, sr.slot)
		}
		full := sr.trigger == TriggerFullRefresh
		res, err := runner.Run(runCtx, js.job, RunOptions{Trigger: sr.trigger, Scheduled: sr.slot, FullRefresh: full, ReplaceIncremental: full})
		retry := false
		switch {
		case err == nil:
		case errors.Is(err, ErrLocked) && js.job.Overlap == OverlapWait && ctx.Err() == nil:
			log.Info("job is already running on " + LockHolder(err) + ": waiting for it")
			retry = true
		case errors.Is(err, ErrLocked) && sr.request != 0:
			// Someone asked for this run and waits to see it in the history: it goes there.
			s.recordSkipped(runCtx, js, sr, "not run: the job was already running on "+LockHolder(err))
		case errors.Is(err, ErrLocked):
			s.skip(js, sr, SkipLocked, "slot skipped: already running on "+LockHolder(err))
		case runCtx.Err() != nil:
			log.Warn("run interrupted by shutdown", "err", err)
		default:
			log.Error("scheduled run failed", "err", err)
		}
		if s.Observer != nil {
			s.Observer.RunEnded(js.job.Name, sr.slot, res, err)
		}
		if !errors.Is(err, ErrLocked) {
			s.Notify.RunEnded(runCtx, js.job, res)
		}
		if !retry {
			return
		}
		if s.clock().Sleep(ctx, cmp.Or(s.LockPoll, time.Second)) != nil {
			log.Info("slot not run: shutting down while waiting for the job's lock")
			return
		}
	}
}
