package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/sink/emulator"
)

// span is one span as the test's OTLP receiver got it.
type span struct {
	traceID, id, parent, name string
	attrs                     map[string]string
	service                   string
	failed                    bool
}

// otlpReceiver is an OTLP/HTTP trace endpoint (POST /v1/traces, protobuf), as a collector
// or Jaeger serves it, that keeps every span it is sent.
type otlpReceiver struct {
	URL string

	mu     sync.Mutex
	spans  []span
	bad    []string // requests it could not decode
	bodies [][]byte // every request as received: span names, attributes, statuses, events
}

func startOTLPReceiver(t testing.TB) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(rc.serveHTTP))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *otlpReceiver) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			rc.fail(w, "gzip: "+err.Error())
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		rc.fail(w, fmt.Sprintf("%s %s (%s): %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err))
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, b)
	for _, rs := range req.GetResourceSpans() {
		service := attrMap(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				rc.spans = append(rc.spans, span{
					traceID: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parent: hex.EncodeToString(s.GetParentSpanId()), name: s.GetName(), attrs: attrMap(s.GetAttributes()),
					service: service, failed: s.GetStatus().GetCode() == 2, // STATUS_CODE_ERROR
				})
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *otlpReceiver) fail(w http.ResponseWriter, what string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, what)
	rc.mu.Unlock()
	http.Error(w, what, http.StatusBadRequest)
}

// trace returns the spans of one trace.
func (rc *otlpReceiver) trace(id string) []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []span
	for _, s := range rc.spans {
		if s.traceID == id {
			out = append(out, s)
		}
	}
	return out
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(v.IntValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(v.BoolValue)
		default:
			m[kv.GetKey()] = fmt.Sprint(v)
		}
	}
	return m
}

// tree indexes a trace's spans: by id, and the children of each by name.
type tree struct {
	t    testing.TB
	byID map[string]span
	root span
}

func newTree(t testing.TB, spans []span) *tree {
	t.Helper()
	tr := &tree{t: t, byID: map[string]span{}}
	var roots []span
	for _, s := range spans {
		tr.byID[s.id] = s
		if s.parent == "" {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].name != "run" {
		t.Fatalf("trace has root spans %v, want one named run", names(roots))
	}
	tr.root = roots[0]
	for _, s := range spans {
		if _, ok := tr.byID[s.parent]; s.parent != "" && !ok {
			t.Errorf("span %q has parent %s, which is not in the trace", s.name, s.parent)
		}
	}
	return tr
}

func (tr *tree) children(of span, name string) []span {
	var out []span
	for _, s := range tr.byID {
		if s.parent == of.id && s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// one is the single child of of named name.
func (tr *tree) one(of span, name string) span {
	tr.t.Helper()
	c := tr.children(of, name)
	if len(c) != 1 {
		tr.t.Fatalf("span %q has %d children named %q, want 1", of.name, len(c), name)
	}
	return c[0]
}

func names(spans []span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.name)
	}
	return out
}

// checkNoSecrets fails when any span attribute carries one of secrets, or a key that looks
// like it holds credentials.
func checkNoSecrets(t testing.TB, spans []span, secrets ...string) {
	t.Helper()
	credKey := regexp.MustCompile(`(?i)password|token|secret|dsn|database_url|authorization`)
	for _, s := range spans {
		for k, v := range s.attrs {
			if credKey.MatchString(k) {
				t.Errorf("span %q has attribute %q: spans must not carry credentials", s.name, k)
			}
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("span %q attribute %s = %q contains a secret", s.name, k, v)
				}
			}
		}
	}
}

// tracedConfig is a jobs file with job stores (the demo stores, replaced, in 1KB chunks so
// that there are several) against the emulator at baseURL, on state (a database URL, or ""
// for local files), and extra appended to the job.
func tracedConfig(t testing.TB, dir, baseURL, state, extra string) string {
	t.Helper()
	retries := []string{"call_retries = 2", `call_backoff = "50ms"`}
	head := emuTarget(baseURL, retries...)
	if state != "" {
		head = serveHead(state, baseURL, retries...)
	}
	return writeConfigIn(t, dir, head+storesJob(t, "stores", "Stores", `chunk_size = "1KB"`, "retry = { attempts = 1 }", extra))
}

// checkRunTrace checks the span tree of one traced run of job stores: run, attempt, open
// source, table with a span per chunk upload, publish with its status polls; that chunk
// number retried (0: none) was sent twice and every other once; and that no span carries a
// secret.
func checkRunTrace(t *testing.T, spans []span, runID string, retried int, secrets ...string) {
	t.Helper()
	tr := newTree(t, spans)
	if got := tr.root.attrs["cubesync.job"]; got != "stores" {
		t.Errorf("run span: cubesync.job = %q, want stores", got)
	}
	if tr.root.service != "cubesync-test" {
		t.Errorf("service.name = %q, want cubesync-test (from OTEL_SERVICE_NAME)", tr.root.service)
	}
	attempt := tr.one(tr.root, "attempt")
	if attempt.attrs["cubesync.run_id"] != runID || attempt.attrs["cubesync.attempt"] != "1" {
		t.Errorf("attempt span attributes %v, want cubesync.run_id %s and cubesync.attempt 1", attempt.attrs, runID)
	}
	open := tr.one(attempt, "open source")
	if open.attrs["cubesync.table"] != "stores" || open.attrs["cubesync.source_kind"] != "parquet" {
		t.Errorf("open source span attributes %v, want table stores, kind parquet", open.attrs)
	}
	table := tr.one(attempt, "table")
	chunks := tr.children(table, "upload chunk")
	if len(chunks) < 2 || fmt.Sprint(len(chunks)) != table.attrs["cubesync.chunks"] {
		t.Fatalf("table span has %d upload chunk spans and cubesync.chunks = %s; want the same number, at least 2", len(chunks), table.attrs["cubesync.chunks"])
	}
	var rows, bytes int64
	for _, c := range chunks {
		var r, b int64
		fmt.Sscan(c.attrs["cubesync.rows"], &r)
		fmt.Sscan(c.attrs["cubesync.bytes"], &b)
		if r <= 0 || b <= 0 || c.attrs["cubesync.table"] != "stores" {
			t.Errorf("upload chunk span attributes %v, want table stores and positive rows and bytes", c.attrs)
		}
		rows, bytes = rows+r, bytes+b
		want := "1"
		if c.attrs["cubesync.chunk"] == fmt.Sprint(retried) {
			want = "2"
		}
		if c.attrs["cubesync.attempt"] != want {
			t.Errorf("upload chunk %s: cubesync.attempt = %q, want %s", c.attrs["cubesync.chunk"], c.attrs["cubesync.attempt"], want)
		}
	}
	if fmt.Sprint(rows) != table.attrs["cubesync.rows"] || fmt.Sprint(bytes) != table.attrs["cubesync.bytes"] {
		t.Errorf("chunks add up to %d rows, %d bytes; the table span says %s rows, %s bytes", rows, bytes, table.attrs["cubesync.rows"], table.attrs["cubesync.bytes"])
	}
	publish := tr.one(attempt, "publish")
	polls := tr.children(publish, "publish status")
	if len(polls) == 0 || fmt.Sprint(len(polls)) != publish.attrs["cubesync.polls"] {
		t.Errorf("publish span has %d publish status spans and cubesync.polls = %s, want the same number, at least 1", len(polls), publish.attrs["cubesync.polls"])
	}
	for _, s := range spans {
		if s.failed {
			t.Errorf("span %q is marked failed in a run that succeeded", s.name)
		}
	}
	checkNoSecrets(t, spans, secrets...)
	t.Logf("trace of run %s: %d spans, %d chunk uploads, %d publish status polls", runID, len(spans), len(chunks), len(polls))
}

// TestTracingRunJob runs the real binary with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an
// OTLP receiver: the run is one trace with the spans an operator looks for, its trace id is
// in the run's log lines and in cubesync history; without the variable nothing is traced.
func TestTracingRunJob(t *testing.T) {
	bin := buildCubesync(t)
	dir := t.TempDir()
	emu, url := startEmulator(t)
	emu.FailNth(emulator.CallPut, 2, http.StatusServiceUnavailable, "") // chunk 2 is sent twice
	rc := startOTLPReceiver(t)
	config := tracedConfig(t, dir, url, "", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "cubesync-test")

	code, stdout, stderr := runBin(t, bin, dir, "run-job", "stores", "--config", config, "--log-format", "json", "--progress", "none")
	if code != exitOK {
		t.Fatalf("run-job: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	logs := &testutil.SyncBuffer{}
	logs.Write([]byte(stderr))
	started := logs.LogLines("run started")
	if len(started) != 1 {
		t.Fatalf("%d run started lines, want 1:\n%s", len(started), stderr)
	}
	id, _ := started[0]["trace_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("run started line has trace_id %q, want 32 hex digits: %v", id, started[0])
	}
	for _, msg := range []string{"table pushed", "run finished", "upload session published"} {
		for _, l := range logs.LogLines(msg) {
			if l["trace_id"] != id {
				t.Errorf("log line %q has trace_id %v, want the run's %s", msg, l["trace_id"], id)
			}
		}
	}
	runID := fmt.Sprint(started[0]["run"])
	// run-job exports its spans before it exits.
	spans := rc.trace(id)
	if len(spans) == 0 {
		t.Fatalf("the receiver has no span of trace %s (undecodable requests: %v)", id, rc.bad)
	}
	checkRunTrace(t, spans, runID, 2, "s3cret-pw", "alice")

	_, history, _ := runBin(t, bin, dir, "history", "stores", "--config", config)
	if !regexp.MustCompile(`(?m)^` + runID + ` .*succeeded.* ` + id).MatchString(history) {
		t.Errorf("cubesync history does not show run %s with trace %s:\n%s", runID, id, history)
	}

	t.Run("off without OTEL_EXPORTER_OTLP_ENDPOINT", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		code, stdout, stderr := runBin(t, bin, dir, "run-job", "stores", "--config", config, "--log-format", "json", "--progress", "none")
		if code != exitOK {
			t.Fatalf("run-job: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if strings.Contains(stderr, "trace_id") || strings.Contains(stderr, "tracing on") {
			t.Errorf("untraced run logs a trace:\n%s", stderr)
		}
		_, history, _ := runBin(t, bin, dir, "history", "stores", "--config", config)
		lines := strings.Split(strings.TrimSpace(history), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "TRACE") || !regexp.MustCompile(`succeeded.* — `).MatchString(lines[1]) || !strings.Contains(lines[2], id) {
			t.Errorf("cubesync history: want the untraced run first with — as its trace, then the traced one with %s:\n%s", id, history)
		}
	})

	t.Run("unsupported protocol", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
		code, _, stderr := runBin(t, bin, dir, "run-job", "stores", "--config", config, "--progress", "none")
		if code != exitUsage || !strings.Contains(stderr, `OTEL_EXPORTER_OTLP_PROTOCOL="http/json": not supported (want http/protobuf, the default, or grpc)`) {
			t.Errorf("run-job with OTEL_EXPORTER_OTLP_PROTOCOL=http/json: exit %d, stderr %q; want exit 2 naming the variable", code, stderr)
		}
	})
}

// TestTracingServe: a run of cubesync serve (state in Postgres) is one trace, exported while
// serve keeps running, and its trace id is in the log, the history and the run's page.
func TestTracingServe(t *testing.T) {
	dsn, bin, dir := serveSetup(t)
	_, url := startEmulator(t)
	rc := startOTLPReceiver(t)
	config := tracedConfig(t, dir, url, dsn, `schedule = "@every 1s"`)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "cubesync-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms: export soon after each run

	p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
	addr := "http://" + listenAddr(t, p.logs)
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	var runID int64
	var id string
	testutil.WaitFor(t, 60*time.Second, "a succeeded run of stores", func() bool {
		err := conn.QueryRow(ctx, `SELECT id, trace_id FROM cubesync.runs WHERE job = 'stores' AND status = 'succeeded' ORDER BY id LIMIT 1`).Scan(&runID, &id)
		return err == nil
	})
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("run %d recorded trace_id %q, want 32 hex digits", runID, id)
	}
	testutil.WaitFor(t, 30*time.Second, "the run's publish span at the receiver", func() bool {
		for _, s := range rc.trace(id) {
			if s.name == "run" {
				return true
			}
		}
		return false
	})
	checkRunTrace(t, rc.trace(id), fmt.Sprint(runID), 0, "s3cret-pw", "alice", dsn)

	found := false
	for _, l := range p.logs.LogLines("run started") {
		if fmt.Sprint(l["run"]) == fmt.Sprint(runID) {
			found = true
			if l["trace_id"] != id {
				t.Errorf("serve's run started line of run %d has trace_id %v, want %s", runID, l["trace_id"], id)
			}
		}
	}
	if !found {
		t.Errorf("serve logged no run started line for run %d", runID)
	}
	code, page := get(t, fmt.Sprintf("%s/jobs/stores/runs/%d", addr, runID))
	if code != http.StatusOK || !strings.Contains(page, "<dt>trace</dt><dd><code>"+id+"</code></dd>") {
		t.Errorf("run page of run %d: status %d, want the trace id %s:\n%s", runID, code, id, page)
	}
	_, history, _ := runBin(t, bin, dir, "history", "stores", "--config", config)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d .* %s`, runID, id)).MatchString(history) {
		t.Errorf("cubesync history does not show run %d with trace %s:\n%s", runID, id, history)
	}
}
