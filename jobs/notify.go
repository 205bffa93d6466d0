package jobs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cubesync/cubesync/clock"
)

// Notifications posts a JSON message to a job's [notify.*] webhooks when one of its runs
// fails, recovers or succeeds, or a slot is missed, per each notifier's on list. Deliveries
// run in the background and are retried with backoff: they never block or fail a run. Each
// delivery, delivered or given up, is recorded in the store.
type Notifications struct {
	Store  Store
	Client *http.Client // http.DefaultClient when nil
	Logger *slog.Logger
	Clock  clock.Clock // the backoff between attempts; clock.Wall when nil
	// Attempts per delivery (default 5) and the first backoff, doubled per attempt
	// (default 1s, at most 1m).
	Attempts int
	Backoff  time.Duration
	// Scrubber takes the values of the jobs file's ${VAR} references out of the error and
	// the dataset a message names; nil sends them as they are.
	Scrubber *Scrubber

	wg sync.WaitGroup
}

// Message is the JSON body of a notification. Text is the one-line summary Slack (and
// compatible incoming webhooks) show.
type Message struct {
	Text      string           `json:"text"`
	Job       string           `json:"job"`
	Event     string           `json:"event"`
	Run       int64            `json:"run,omitempty"`
	Status    string           `json:"status"`
	Trigger   string           `json:"trigger,omitempty"`
	Scheduled *time.Time       `json:"scheduled,omitempty"`
	Started   *time.Time       `json:"started,omitempty"`
	Duration  float64          `json:"duration_seconds"`
	Error     string           `json:"error,omitempty"`
	Rows      map[string]int64 `json:"rows"` // per table
	Dataset   MessageDataset   `json:"dataset"`
	Host      string           `json:"host,omitempty"`
}

// MessageDataset names the dataset of a notification.
type MessageDataset struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

func (n *Notifications) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}

// RunEnded notifies job's notifiers of a finished run (res.Run must have been recorded;
// runs that did not start, such as a job locked elsewhere, are not notified).
func (n *Notifications) RunEnded(ctx context.Context, job *Job, res *Result) {
	if n == nil || len(job.Notify) == 0 || res == nil || res.Run.ID == 0 {
		return
	}
	r := res.Run
	var event string
	switch r.Status {
	case StatusFailed:
		event = EventFailure
	case StatusSucceeded:
		event = EventSuccess
		if n.previousFailed(ctx, job.Name, r.ID) {
			event = EventRecovery
		}
	default:
		return // interrupted, skipped: nothing a notifier asked for
	}
	m := Message{Job: job.Name, Run: r.ID, Status: r.Status, Trigger: r.Trigger, Error: r.Error,
		Rows: map[string]int64{}, Dataset: MessageDataset{Name: job.Dataset.Name, ID: cmp.Or(res.DatasetID, r.DatasetID)}, Host: r.Host}
	if !r.Scheduled.IsZero() {
		m.Scheduled = &r.Scheduled
	}
	if !r.Started.IsZero() {
		m.Started = &r.Started
		if !r.Ended.IsZero() {
			m.Duration = r.Ended.Sub(r.Started).Seconds()
		}
	}
	for _, t := range res.Tables {
		m.Rows[t.Name] = t.Rows
	}
	for _, nt := range job.Notify {
		ev := event
		if ev == EventRecovery && !nt.Wants(EventRecovery) {
			ev = EventSuccess // a notifier of successes hears of this one as a success
		}
		if nt.Wants(ev) {
			n.send(ctx, nt, ev, m)
		}
	}
}

// SlotMissed notifies job's notifiers that asked for missed slots.
func (n *Notifications) SlotMissed(ctx context.Context, job *Job, runID int64, slot time.Time, reason string) {
	if n == nil {
		return
	}
	m := Message{Job: job.Name, Run: runID, Status: StatusMissed, Trigger: TriggerSchedule, Scheduled: &slot, Error: reason,
		Rows: map[string]int64{}, Dataset: MessageDataset{Name: job.Dataset.Name}}
	for _, nt := range job.Notify {
		if nt.Wants(EventMissed) {
			n.send(ctx, nt, EventMissed, m)
		}
	}
}

// previousFailed reports whether the job's last finished run before run id failed.
func (n *Notifications) previousFailed(ctx context.Context, job string, id int64) bool {
	runs, err := n.Store.Runs(ctx, job, 20)
	if err != nil {
		n.logger().Warn("notify: read the previous run: sending a success, not a recovery", "job", job, "err", err)
		return false
	}
	for _, r := range runs {
		if r.ID >= id {
			continue
		}
		switch r.Status {
		case StatusFailed, StatusAbandoned:
			return true
		case StatusSucceeded:
			return false
		}
	}
	return false
}

// Wait waits for the deliveries in flight, or until ctx ends.
func (n *Notifications) Wait(ctx context.Context) {
	if n == nil {
		return
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.logger().Warn("notify: stopped waiting for deliveries in flight", "err", context.Cause(ctx))
	}
}

func summary(event string, m Message) string {
	var b strings.Builder
	switch event {
	case EventFailure:
		fmt.Fprintf(&b, ":x: cubesync job %s failed (run %d)", m.Job, m.Run)
	case EventRecovery:
		fmt.Fprintf(&b, ":white_check_mark: cubesync job %s recovered (run %d)", m.Job, m.Run)
	case EventSuccess:
		fmt.Fprintf(&b, ":white_check_mark: cubesync job %s succeeded (run %d)", m.Job, m.Run)
	case EventMissed:
		fmt.Fprintf(&b, ":warning: cubesync job %s missed its slot %s", m.Job, m.Scheduled.UTC().Format(time.RFC3339))
	}
	if event == EventSuccess || event == EventRecovery {
		var rows int64
		for _, r := range m.Rows {
			rows += r
		}
		fmt.Fprintf(&b, ": %d rows to dataset %q in %s", rows, m.Dataset.Name, (time.Duration(m.Duration * float64(time.Second))).Round(time.Millisecond))
	}
	if m.Error != "" {
		b.WriteString(": " + m.Error)
	}
	return b.String()
}

// send delivers m to nt in the background.
func (n *Notifications) send(ctx context.Context, nt *Notifier, event string, m Message) {
	m.Event = event
	m.Error = n.Scrubber.Scrub(m.Error)
	m.Dataset.Name, m.Dataset.ID = n.Scrubber.Scrub(m.Dataset.Name), n.Scrubber.Scrub(m.Dataset.ID)
	m.Text = summary(event, m)
	body, err := json.Marshal(m)
	if err != nil {
		n.logger().Error("notify: encode message", "job", m.Job, "notifier", nt.Name, "err", err)
		return
	}
	ctx = context.WithoutCancel(ctx) // a run's end must not cancel the message about it
	n.wg.Go(func() {
		log := n.logger().With("job", m.Job, "run", m.Run, "notifier", nt.Name, "event", event)
		d := Delivery{Job: m.Job, RunID: m.Run, Notifier: nt.Name, Event: event, Status: DeliveryDelivered}
		attempts := cmp.Or(n.Attempts, 5)
		backoff := cmp.Or(n.Backoff, time.Second)
		for d.Attempts = 1; ; d.Attempts++ {
			err := n.post(ctx, nt.URL, body)
			if err == nil {
				d.Error = ""
				break
			}
			d.Error = err.Error()
			var perm *permanentError
			if d.Attempts >= attempts || errors.As(err, &perm) {
				d.Status = DeliveryFailed
				break
			}
			log.Warn("notification not delivered, retrying", "attempt", d.Attempts, "in", backoff.String(), "err", err)
			_ = clock.Or(n.Clock).Sleep(ctx, backoff)
			backoff = min(backoff*2, time.Minute)
		}
		if d.Status == DeliveryDelivered {
			log.Info("notification delivered", "attempts", d.Attempts)
		} else {
			log.Error("notification not delivered: giving up", "attempts", d.Attempts, "err", d.Error)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := n.Store.RecordDelivery(rctx, d); err != nil {
			log.Error("record notification delivery", "err", err)
		}
	})
}

// permanentError is a webhook's answer that retrying will not change (4xx but 408 and 429).
type permanentError struct{ status int }

func (e *permanentError) Error() string {
	return fmt.Sprintf("webhook answered %d %s (not retried: check the notifier's url)", e.status, http.StatusText(e.status))
}

// post sends one attempt. Errors never include the URL: it often carries a token.
func (n *Notifications) post(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad webhook url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cubesync")
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) { // *url.Error: keep the cause, drop the URL
			err = ue.Unwrap()
		}
		return fmt.Errorf("post to webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &permanentError{status: resp.StatusCode}
	}
	return fmt.Errorf("webhook answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}
