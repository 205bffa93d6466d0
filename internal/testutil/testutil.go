// Package testutil holds the helpers that cubesync's tests share: a buffer that a command or
// process writes its logs to while the test reads them, a poll that waits for a condition
// with a deadline, the one fake clock, and a Parquet file writer for test data. It imports
// nothing of cubesync, so every package's tests (including sink's internal ones) can use it.
//
// Waiting here is for things outside the test's control (another process, a server, a
// database). Time the test controls belongs on a fake clock or in a testing/synctest bubble,
// and absence is proven by waiting for a later event, never by sleeping.
package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuffer collects a command's or process's output; it is safe for concurrent writes
// and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// LogLines returns the JSON log lines written so far whose msg is msg, decoded.
func (s *SyncBuffer) LogLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// pollEvery is how often Eventually and WaitFor look again.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond until it holds or timeout passes, and says whether it held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// WaitFor polls cond until it holds, failing the test with what after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
