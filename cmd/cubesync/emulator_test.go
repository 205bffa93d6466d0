package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// emulatorCommand is cubesync emulator run in-process by a test.
type emulatorCommand struct {
	*inProcess
	base   string // the base URL it printed
	cancel context.CancelFunc
}

// startEmulatorCommand runs cubesync emulator with args and waits until it prints its
// base URL.
func startEmulatorCommand(t *testing.T, args ...string) *emulatorCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ec := &emulatorCommand{inProcess: serveInProcess(t, ctx, append([]string{"emulator", "--listen", "127.0.0.1:0"}, args...)...), cancel: cancel}
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+/MicroStrategyLibrary`)
	if !testutil.Eventually(10*time.Second, func() bool { ec.base = re.FindString(ec.stdout.String()); return ec.base != "" }) {
		ec.stop(t)
		t.Fatalf("no base URL printed; stdout %q, stderr %q", ec.stdout.String(), ec.stderr.String())
	}
	return ec
}

// stop cancels the command's context, as SIGINT does through the root context, and returns
// its exit code.
func (ec *emulatorCommand) stop(t *testing.T) int {
	t.Helper()
	ec.cancel()
	return ec.exitCode(t, 15*time.Second)
}

func TestEmulatorCommand(t *testing.T) {
	ec := startEmulatorCommand(t, "--user", "alice:pw", "--data-dir", t.TempDir())
	base, stderr := ec.base, ec.stderr
	login := func(body string) int {
		resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := login(`{"username":"alice","password":"pw","loginMode":1}`); got != http.StatusNoContent {
		t.Errorf("login as a --user: status %d, want 204", got)
	}
	if got := login(`{"username":"alice","password":"wrong","loginMode":1}`); got != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: status %d, want 401", got)
	}

	if code := ec.stop(t); code != exitOK {
		t.Errorf("exit code after shutdown = %d, want 0; stderr %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), `"wrong"`) || strings.Contains(stderr.String(), "pw") {
		t.Errorf("logs repeat a password: %s", stderr.String())
	}
	// Logged like every command: JSON when stderr is no terminal, nothing below INFO.
	logs := jsonLogs(t, stderr.String())
	if len(logs) == 0 {
		t.Error("the emulator logged nothing")
	}
	for _, m := range logs {
		if m["level"] == "DEBUG" {
			t.Errorf("the emulator logs DEBUG lines: %v", m)
		}
	}
}

func TestEmulatorCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"emulator", "--log-format", "xml"},
		{"emulator", "--user", "nocolon"},
		{"emulator", "--publish-delay", "-1s"},
		{"emulator", "extra"},
		{"emulator", "--publish-statuses", "4,eight"},
		{"emulator", "--publish-statuses", "4,1"},
		{"emulator", "--error-code-digits", "0"},
		{"emulator", "--error-code-digits", "7"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
			if code := Run(context.Background(), e, args); code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr %s", code, exitUsage, errOut.String())
			}
		})
	}
}

// TestEmulatorCommandDialect starts the emulator with the dialect flags and checks the
// answers are those of the dialect.
func TestEmulatorCommandDialect(t *testing.T) {
	ec := startEmulatorCommand(t, "--user", "alice:pw",
		"--error-code-digits", "4", "--publish-statuses", "4,8,9,10", "--status-as-string", "--bigint-as-integer")
	defer ec.stop(t)
	base := ec.base
	resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(`{"username":"alice","password":"wrong","loginMode":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != "ERR0003" {
		t.Errorf("refused login answered code %q (%v), want ERR0003 with --error-code-digits 4", body.Code, err)
	}
}

// TestDrainChunks checks --drain's handler: chunk uploads are read and answered 200
// without being checked, every other call goes to the emulator.
func TestDrainChunks(t *testing.T) {
	var passed []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = append(passed, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := drainChunks(next, slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPut, "/MicroStrategyLibrary/api/datasets/d1/uploadSessions/s1", http.StatusOK},
		{http.MethodPost, "/MicroStrategyLibrary/api/datasets/d1/uploadSessions/s1/publish", http.StatusTeapot},
		{http.MethodPost, "/MicroStrategyLibrary/api/auth/login", http.StatusTeapot},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"tableName":"t","index":1,"data":"not base64!"}`)))
		if rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
	if len(passed) != 2 {
		t.Errorf("calls handed to the emulator = %q, want the publish and the login", passed)
	}
}

// The README's way to browse the demo: `cubesync emulator --data-dir .cubesync/emulator`
// shows what run-job publishes there while it runs.
func TestEmulatorShowsLaterPublishes(t *testing.T) {
	config := shippedConfig(t)
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, e, []string{"emulator", "--listen", "127.0.0.1:0", "--data-dir", ".cubesync/emulator"})
	}()
	var base string
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	testutil.WaitFor(t, 10*time.Second, "the emulator's base URL", func() bool { base = re.FindString(stdout.String()); return base != "" })
	datasets := func() string {
		_, body := get(t, base+"/emulator/datasets")
		return body
	}
	if body := datasets(); strings.Contains(body, "Demo Sales") {
		t.Fatalf("the emulator shows Demo Sales before any run: %s", body)
	}

	if code, out, logs := runCmd(t, "run-job", "--config", config, "--progress", "none", "demo"); code != exitOK {
		t.Fatalf("run-job demo: exit %d\n%s\n%s", code, out, logs)
	}
	if body := datasets(); !strings.Contains(body, "Demo Sales") {
		t.Errorf("GET /emulator/datasets after run-job demo published = %s, want Demo Sales", body)
	}
	if code, body := get(t, base+"/emulator/datasets/Demo%20Sales/tables/stores"); code != http.StatusOK || !strings.Contains(body, "Hamburg Altona") {
		t.Errorf("GET the stores table = %d %s, want the published stores", code, oneLine(body, 200))
	}
	cancel()
	<-done
}
