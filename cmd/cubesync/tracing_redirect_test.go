package main

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cubesync/cubesync/internal/testutil"
)

// TestTraceExportNeverFollowsARedirectElsewhere: a collector endpoint that redirects to
// another address (here plain http on another port) must not get the export, and with it
// OTEL_EXPORTER_OTLP_HEADERS, sent there; the export fails and a warning says why.
func TestTraceExportNeverFollowsARedirectElsewhere(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	var asked int
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Method+" "+r.URL.Path+" x-api-key="+r.Header.Get("X-Api-Key")+" authorization="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(catcher.Close)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, catcher.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret-key,authorization=Bearer s3cret-token")

	var logs testutil.SyncBuffer
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	tr, err := newTracing(context.Background(), e, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("newTracing: %v", err)
	}
	_, span := tr.tracer().Start(context.Background(), "run")
	span.End()
	tr.shutdown() // exports the span

	mu.Lock()
	defer mu.Unlock()
	if asked == 0 {
		t.Fatalf("the collector endpoint was never asked; logs:\n%s", logs.String())
	}
	if len(leaked) > 0 {
		t.Errorf("the address the collector redirected to received %d requests, want none:\n%s", len(leaked), strings.Join(leaked, "\n"))
	}
	if !strings.Contains(logs.String(), "redirect not followed") {
		t.Errorf("no warning says the redirect was not followed:\n%s", logs.String())
	}
}

// TestTraceExportTLSFromEnvironment: with cubesync's own client the exporter no longer reads
// the TLS and timeout variables itself, so cubesync must: a collector whose CA is in
// OTEL_EXPORTER_OTLP_CERTIFICATE gets the export, and a bad timeout is refused by name.
func TestTraceExportTLSFromEnvironment(t *testing.T) {
	var mu sync.Mutex
	var got int
	collector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: collector.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	var logs testutil.SyncBuffer
	tr, err := newTracing(context.Background(), e, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("newTracing: %v", err)
	}
	_, span := tr.tracer().Start(context.Background(), "run")
	span.End()
	tr.shutdown()
	mu.Lock()
	if got != 1 {
		t.Errorf("the https collector trusted through OTEL_EXPORTER_OTLP_CERTIFICATE got %d exports, want 1; logs:\n%s", got, logs.String())
	}
	mu.Unlock()

	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon")
	if _, err := newTracing(context.Background(), e, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
		t.Errorf("newTracing with OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=soon: %v, want an error naming it", err)
	}
}
