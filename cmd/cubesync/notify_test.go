package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

// webhook is a receiver of notifications: it keeps every message a notifier path got, and
// answers 503 to the first request so that the sender must retry.
type webhook struct {
	mu       sync.Mutex
	requests int
	got      map[string][]jobs.Message // by path
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if h.requests == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var m jobs.Message
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &m) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.got[r.URL.Path] = append(h.got[r.URL.Path], m)
	w.WriteHeader(http.StatusOK)
}

func (h *webhook) messages(path string) []jobs.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]jobs.Message(nil), h.got[path]...)
}

// TestServeNotifications runs two serve replicas on Postgres whose job fails once and then
// succeeds, with two webhooks on a receiver the test runs: ops hears of the failure and the
// recovery, all of every success; the failure's first delivery is refused and retried; every
// run is notified once across the replicas and every delivery is in the history.
func TestServeNotifications(t *testing.T) {
	dsn, bin, dir := serveSetup(t)
	emu, url := startEmulator(t)
	hook := &webhook{got: map[string][]jobs.Message{}}
	receiver := httptest.NewServer(hook)
	defer receiver.Close()
	const secretPath = "/hooks/T0KEN-in-the-url"
	t.Setenv("CUBESYNC_TEST_OPS_URL", receiver.URL+secretPath)
	config := writeConfigIn(t, dir, serveHead(dsn, url)+fmt.Sprintf(`
[notify.ops]
url = "${CUBESYNC_TEST_OPS_URL}"
on = ["failure", "recovery"]

[notify.all]
url = "%s/all"
on = ["success"]

[defaults]
retry = { attempts = 1 }
notify = ["ops", "all"]
`, receiver.URL)+storesJob(t, "tick", "Tick", `schedule = "@every 1s"`))
	emu.FailPublish(3, "publish failed on purpose")
	var replicas []*proc
	for range 2 {
		replicas = append(replicas, startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json"))
	}
	testutil.WaitFor(t, 60*time.Second, "ops to hear of the failure and the recovery", func() bool { return len(hook.messages(secretPath)) >= 2 })
	testutil.WaitFor(t, 20*time.Second, "all to hear of two successes", func() bool { return len(hook.messages("/all")) >= 2 })
	stopReplicas(t, replicas)
	for _, p := range replicas {
		if strings.Contains(p.logs.String(), "T0KEN") {
			t.Errorf("replica pid %d logged the webhook URL", p.cmd.Process.Pid)
		}
	}

	ops := hook.messages(secretPath)
	// The failure's first delivery was refused: the recovery may have arrived first.
	slices.SortFunc(ops, func(a, b jobs.Message) int { return cmp.Compare(a.Run, b.Run) })
	if len(ops) != 2 || ops[0].Event != jobs.EventFailure || ops[1].Event != jobs.EventRecovery {
		t.Fatalf("ops got %+v, want a failure then a recovery", ops)
	}
	fail, rec := ops[0], ops[1]
	if fail.Job != "tick" || fail.Status != jobs.StatusFailed || !strings.Contains(fail.Error, "publish failed on purpose") ||
		fail.Dataset.Name != "Tick" || fail.Run == 0 || fail.Duration <= 0 || !strings.HasPrefix(fail.Text, ":x: cubesync job tick failed") {
		t.Errorf("failure message = %+v, want job, run, status failed, the error, dataset, duration and text", fail)
	}
	if rec.Status != jobs.StatusSucceeded || rec.Rows["stores"] == 0 || rec.Dataset.ID == "" || rec.Run <= fail.Run || !strings.Contains(rec.Text, "recovered") {
		t.Errorf("recovery message = %+v, want succeeded with rows per table, dataset id and text", rec)
	}
	for _, m := range hook.messages("/all") {
		if m.Event != jobs.EventSuccess || m.Run == fail.Run {
			t.Errorf("all got %+v, want successes only", m)
		}
	}

	conn := pgtest.Connect(t, dsn)
	rows, err := conn.Query(context.Background(), `SELECT run_id, notifier, event, status, attempts FROM cubesync.deliveries ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type delivery struct {
		run             int64
		notifier, event string
		status          string
		attempts        int
	}
	seen := map[string]bool{}
	var failDelivery *delivery
	for rows.Next() {
		var d delivery
		if err := rows.Scan(&d.run, &d.notifier, &d.event, &d.status, &d.attempts); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(d.run, d.notifier)
		if seen[key] {
			t.Errorf("run %d notified to %s twice: each run is notified by the replica that ran it", d.run, d.notifier)
		}
		seen[key] = true
		if d.run == fail.Run && d.notifier == "ops" {
			failDelivery = &d
		}
	}
	if failDelivery == nil || failDelivery.status != jobs.DeliveryDelivered || failDelivery.attempts != 2 || failDelivery.event != jobs.EventFailure {
		t.Errorf("delivery of the failure in the history = %+v, want delivered on the 2nd attempt", failDelivery)
	}
	if len(seen) < 3 {
		t.Errorf("%d deliveries recorded, want every message the receiver got", len(seen))
	}
	_, history, _ := runBin(t, bin, dir, "history", "tick", "--config", config, "-n", "100")
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d .*failed .*ops failure delivered`, fail.Run)).MatchString(history) {
		t.Errorf("cubesync history does not show the failure's delivery to ops:\n%s", history)
	}
}

// TestServeNotificationsNeverHoldRuns runs cubesync serve (state in Postgres) with a job
// every second told about each success through two webhooks the test runs: one never
// answers, one refuses every message with 400. Runs go on succeeding regardless; the refused
// deliveries are recorded failed after one attempt (a 4xx other than 408 and 429 is not
// retried); and on SIGTERM serve still exits 0, giving up on the hanging delivery.
func TestServeNotificationsNeverHoldRuns(t *testing.T) {
	dsn, bin, dir := serveSetup(t)
	_, url := startEmulator(t)
	release := make(chan struct{})
	var mu sync.Mutex
	hung, refused := 0, 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.URL.Path == "/hang" {
			hung++
			mu.Unlock()
			select { // until the test ends or the sender gives up
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		refused++
		mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer receiver.Close()
	defer close(release)
	config := writeConfigIn(t, dir, serveHead(dsn, url)+fmt.Sprintf(`
[notify.hang]
url = "%[1]s/hang"
on = ["success"]

[notify.refuse]
url = "%[1]s/refuse"
on = ["success"]
`, receiver.URL)+storesJob(t, "tick", "Tick", `schedule = "@every 1s"`, `notify = ["hang", "refuse"]`, "retry = { attempts = 1 }"))
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)

	p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
	count := func(sql string) int {
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			return 0 // not migrated yet
		}
		return n
	}
	testutil.WaitFor(t, 60*time.Second, "three succeeded runs of tick while its webhook hangs", func() bool {
		return count(`SELECT count(*) FROM cubesync.runs WHERE job = 'tick' AND status = 'succeeded'`) >= 3
	})
	testutil.WaitFor(t, 30*time.Second, "three refused deliveries recorded", func() bool {
		return count(`SELECT count(*) FROM cubesync.deliveries WHERE notifier = 'refuse'`) >= 3
	})
	if n := count(`SELECT count(*) FROM cubesync.runs WHERE job = 'tick' AND status NOT IN ('succeeded', 'running', 'skipped')`); n != 0 {
		t.Errorf("%d runs of tick did not succeed while the webhooks hung or refused", n)
	}
	rows, err := conn.Query(ctx, `SELECT status, attempts, error FROM cubesync.deliveries WHERE notifier = 'refuse'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var status, msg string
		var attempts int
		if err := rows.Scan(&status, &attempts, &msg); err != nil {
			t.Fatal(err)
		}
		if status != jobs.DeliveryFailed || attempts != 1 || !strings.Contains(msg, "400") {
			t.Errorf("refused delivery recorded as %s after %d attempts (%q), want failed after 1, naming the 400", status, attempts, msg)
		}
	}
	mu.Lock()
	if hung == 0 || refused < 3 {
		t.Errorf("the receiver got %d requests to /hang and %d to /refuse, want at least 1 and 3", hung, refused)
	}
	mu.Unlock()

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != exitOK {
		t.Errorf("serve exited %d after SIGTERM with a delivery hanging, want 0", code)
	}
}
