package main

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs/pgstate"
)

// TestTriggerWhileLockedIsInHistory: a run asked for with cubesync trigger while the job
// runs elsewhere (its lock held) does not run, and the history says so: a skipped run with
// trigger "trigger" naming the holder, so whoever asked is not left guessing.
func TestTriggerWhileLockedIsInHistory(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	dsn, bin, dir, config := controlSetup(t)
	ctx := context.Background()

	// Only serve uses the admin token; trigger and history run without it.
	p := serveWithAdminToken(t, bin, dir, config)
	listenAddr(t, p.logs) // serving, migrations done

	// Another process runs job slow: the test holds its lock.
	holder, err := pgstate.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lease, err := holder.Lock(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()

	code, stdout, stderr := runBin(t, bin, dir, "trigger", "slow", "--config", config)
	if code != exitOK {
		t.Fatalf("cubesync trigger slow: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	conn := pgtest.Connect(t, dsn)
	var trigger, status, reason string
	testutil.WaitFor(t, 30*time.Second, "a finished run of slow in the history", func() bool {
		return conn.QueryRow(ctx, `SELECT trigger, status, error FROM cubesync.runs WHERE job = 'slow' AND status <> 'running'`).Scan(&trigger, &status, &reason) == nil
	})
	if trigger != "trigger" || status != "skipped" || !strings.Contains(reason, "already running on") {
		t.Errorf("run of slow recorded as trigger %q status %q error %q; want trigger, skipped, saying the job was already running", trigger, status, reason)
	}
	_, history, _ := runBin(t, bin, dir, "history", "slow", "--config", config)
	if !regexp.MustCompile(`(?m)^\d+ +slow +trigger .*skipped.*already running on`).MatchString(history) {
		t.Errorf("cubesync history slow does not show the skipped requested run:\n%s", history)
	}
	if len(p.logs.LogLines("requested run skipped")) != 1 {
		t.Errorf("serve did not log the skipped requested run once")
	}
}
