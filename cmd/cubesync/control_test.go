package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

const testAdminToken = "0123456789abcdef-test-admin-token"

// controlConfig has a job tick every second and a job slow whose schedule never comes during
// a test, on the Postgres state store dsn, with the admin API on.
func controlConfig(t testing.TB, dir, baseURL, dsn string) string {
	t.Helper()
	return writeConfigIn(t, dir, serveHead(dsn, baseURL)+`admin_token = "${CUBESYNC_TEST_ADMIN_TOKEN}"

[defaults]
retry = { attempts = 1 }
`+storesJob(t, "tick", "Tick", `schedule = "@every 1s"`)+
		storesJob(t, "slow", "Slow", `schedule = "0 0 1 1 *"`, `jitter = "10m"`))
}

// controlSetup prepares a serve test on controlConfig: a fresh Postgres state database, the
// cubesync binary, a directory and the jobs file in it, against a new emulator.
func controlSetup(t *testing.T) (dsn, bin, dir, config string) {
	t.Helper()
	dsn, bin, dir = serveSetup(t)
	_, url := startEmulator(t)
	return dsn, bin, dir, controlConfig(t, dir, url, dsn)
}

// serveWithAdminToken starts `cubesync serve` on config with the admin token its
// admin_token names in the environment (only serve reads it).
func serveWithAdminToken(t *testing.T, bin, dir, config string) *proc {
	t.Helper()
	return startCubesyncEnv(t, bin, dir, []string{"CUBESYNC_TEST_ADMIN_TOKEN=" + testAdminToken}, "serve", "--config", config, "--log-format", "json")
}

// runBin runs the cubesync binary to completion and returns its exit code and output.
func runBin(t testing.TB, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CUBESYNC_CONFIG=", "CUBESYNC_LISTEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("cubesync %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func post(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestServeControl drives two serve replicas on one Postgres state store with cubesync
// pause, resume and trigger, and with the same over the HTTP admin API: a pause holds on
// both replicas, a trigger runs once through a replica and is recorded in the history, and
// the API wants the bearer token and never logs it.
func TestServeControl(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	dsn, bin, dir, config := controlSetup(t)
	ctx := context.Background()

	// Only serve uses the admin token; pause, resume, trigger and jobs run without it.
	var replicas []*proc
	var addrs []string
	for range 2 {
		p := serveWithAdminToken(t, bin, dir, config)
		replicas = append(replicas, p)
		addrs = append(addrs, "http://"+listenAddr(t, p.logs))
	}
	conn := pgtest.Connect(t, dsn)
	count := func(job, where string) int {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.runs WHERE job = $1 AND `+where, job).Scan(&n)
		return n
	}
	testutil.WaitFor(t, 30*time.Second, "two succeeded runs of tick", func() bool { return count("tick", "status = 'succeeded'") >= 2 })

	t.Run("pause and resume hold on every replica", func(t *testing.T) {
		code, stdout, stderr := runBin(t, bin, dir, "pause", "tick", "--config", config)
		if code != 0 || !strings.Contains(stdout, "tick paused") {
			t.Fatalf("cubesync pause tick: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		// Each slot of a paused job is claimed by one replica, which logs the skip: three
		// more skips are three slots passed, proving no run without waiting on the clock.
		pausedSkips := func() int {
			n := 0
			for _, p := range replicas {
				n += len(p.logs.LogLines("slot skipped: the job is paused"))
			}
			return n
		}
		testutil.WaitFor(t, 10*time.Second, "a slot of tick skipped for the pause and no run of it left running", func() bool {
			return pausedSkips() > 0 && count("tick", "status = 'running'") == 0
		})
		before, skips := count("tick", "true"), pausedSkips()
		testutil.WaitFor(t, 10*time.Second, "three more slots of tick skipped for the pause", func() bool { return pausedSkips() >= skips+3 })
		if after := count("tick", "true"); after != before {
			t.Errorf("tick ran %d times in three slots after cubesync pause, want none", after-before)
		}
		// Both replicas' status pages say so (the pause lives in the state store).
		for _, addr := range addrs {
			if _, page := get(t, addr+"/"); !strings.Contains(page, `<strong class="paused">paused</strong>`) {
				t.Errorf("status page of %s does not show tick paused", addr)
			}
		}
		_, stdout, _ = runBin(t, bin, dir, "jobs", "--config", config)
		if !regexp.MustCompile(`(?m)^tick .*paused since`).MatchString(stdout) {
			t.Errorf("cubesync jobs does not show tick paused:\n%s", stdout)
		}
		code, stdout, stderr = runBin(t, bin, dir, "resume", "tick", "--config", config)
		if code != 0 || !strings.Contains(stdout, "tick resumed") {
			t.Fatalf("cubesync resume tick: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		testutil.WaitFor(t, 10*time.Second, "tick to run again after resume", func() bool { return count("tick", "true") > before })
	})

	t.Run("status page shows the jitter in the next run", func(t *testing.T) {
		cfg, err := jobs.Load(config, func(k string) (string, bool) {
			if k == "CUBESYNC_TEST_ADMIN_TOKEN" {
				return testAdminToken, true
			}
			return os.LookupEnv(k)
		})
		if err != nil {
			t.Fatal(err)
		}
		off := cfg.Jobs["slow"].JitterOffset()
		if _, page := get(t, addrs[0]+"/"); !strings.Contains(page, "(slot + "+off.String()+" jitter)") {
			t.Errorf("status page does not show slow's jitter offset %s", off)
		}
	})

	t.Run("trigger runs once through a replica", func(t *testing.T) {
		code, stdout, stderr := runBin(t, bin, dir, "trigger", "slow", "--config", config)
		if code != 0 || !strings.Contains(stdout, "taken by") {
			t.Fatalf("cubesync trigger slow: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		testutil.WaitFor(t, 20*time.Second, "the triggered run to succeed", func() bool {
			return count("slow", "status = 'succeeded' AND trigger = '"+jobs.TriggerRequest+"'") == 1
		})
		if n := count("slow", "true"); n != 1 {
			t.Errorf("slow ran %d times after one trigger, want once", n)
		}
		code, _, stderr = runBin(t, bin, dir, "trigger", "tock", "--config", config)
		if code != exitUsage || !strings.Contains(stderr, `has no job "tock" (did you mean tick?)`) {
			t.Errorf("cubesync trigger tock: exit %d, stderr %q; want 2 naming the unknown job", code, stderr)
		}
	})

	t.Run("HTTP admin API", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-token-of-some-length"} {
			if code, body := post(t, addrs[0]+"/api/jobs/slow/run", tok); code != http.StatusUnauthorized {
				t.Errorf("POST run with token %q = %d %s, want 401", tok, code, body)
			}
		}
		if code, body := post(t, addrs[0]+"/api/jobs/slow/run", testAdminToken); code != http.StatusAccepted || !strings.Contains(body, `"request"`) {
			t.Fatalf("POST /api/jobs/slow/run = %d %s, want 202 with the request id", code, body)
		}
		testutil.WaitFor(t, 20*time.Second, "the run requested over HTTP to succeed", func() bool {
			return count("slow", "status = 'succeeded' AND trigger = 'trigger'") == 2
		})
		if code, body := post(t, addrs[0]+"/api/jobs/nope/run", testAdminToken); code != http.StatusNotFound {
			t.Errorf("POST run of an unknown job = %d %s, want 404", code, body)
		}
		if code, body := post(t, addrs[0]+"/api/jobs/tick/pause", testAdminToken); code != http.StatusOK || !strings.Contains(body, `"paused":true`) {
			t.Fatalf("POST pause = %d %s, want 200 paused", code, body)
		}
		var paused int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.paused WHERE job = 'tick'`).Scan(&paused); err != nil || paused != 1 {
			t.Errorf("after POST pause, tick paused rows = %d (%v), want 1", paused, err)
		}
		// The other replica resumes it: the state is shared.
		if code, body := post(t, addrs[1]+"/api/jobs/tick/resume", testAdminToken); code != http.StatusOK || !strings.Contains(body, `"paused":false`) {
			t.Fatalf("POST resume = %d %s, want 200 not paused", code, body)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.paused`).Scan(&paused); err != nil || paused != 0 {
			t.Errorf("after POST resume, paused rows = %d (%v), want 0", paused, err)
		}
		// Read-only endpoints stay open.
		if code, _ := get(t, addrs[1]+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz = %d with the admin API on, want 200", code)
		}
	})

	stopReplicas(t, replicas)
	for _, p := range replicas {
		if strings.Contains(p.logs.String(), testAdminToken) {
			t.Errorf("replica pid %d logged the admin token", p.cmd.Process.Pid)
		}
	}
	if !strings.Contains(replicas[0].logs.String(), "admin request refused") {
		t.Error("no replica logged the refused admin requests")
	}
	var took int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT taken_by) FROM cubesync.run_requests WHERE job = 'slow'`).Scan(&took); err != nil || took < 1 {
		t.Errorf("run requests taken by %d replicas (%v), want recorded", took, err)
	}
	// Every replica has exited: no run of a request can come any more. Each request of slow
	// (cubesync trigger, then POST run) ran once, on one replica.
	var requests int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.run_requests WHERE job = 'slow'`).Scan(&requests); err != nil {
		t.Fatal(err)
	}
	if n := count("slow", "true"); n != requests {
		t.Errorf("slow ran %d times for %d requests, want once each", n, requests)
	}
}
