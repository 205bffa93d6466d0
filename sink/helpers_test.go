package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// testServer is a scripted Push Data API server for fault shapes the emulator does not make
// (proxy pages, Retry-After, dropped connections). It answers login and logout itself, hands
// out tokens "secret-token-N" with a JSESSIONID cookie, rejects later calls without both
// (401 ERR009), and passes them to handle.
type testServer struct {
	*httptest.Server
	handle http.HandlerFunc

	mu       sync.Mutex
	logins   int
	token    string
	bodies   []map[string]any // login bodies
	requests []*http.Request  // every call after login, body drained
	expire   bool             // the next authenticated call finds the session expired
	logout   *http.Request    // the logout call, if any
}

// expireSession makes the next authenticated call find the login session expired.
func (s *testServer) expireSession() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire = true
}

// setToken replaces the server's idea of the valid token.
func (s *testServer) setToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

func (s *testServer) currentToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

func (s *testServer) loginBodies() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

func (s *testServer) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

func (s *testServer) logoutRequest() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logout
}

const testPassword = "pa55-w0rd-S3CRET"

func newTestServer(t testing.TB, handle http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/auth/login":
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.logins++
		s.token = fmt.Sprintf("secret-token-%d", s.logins)
		s.bodies = append(s.bodies, body)
		token := s.token
		s.mu.Unlock()
		w.Header().Set("X-MSTR-AuthToken", token)
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "cookie-" + token, Path: "/"})
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mu.Lock()
	token, expire := s.token, s.expire
	s.expire = false
	s.mu.Unlock()
	cookie, _ := r.Cookie("JSESSIONID")
	if expire || token == "" || r.Header.Get("X-MSTR-AuthToken") != token || cookie == nil || cookie.Value != "cookie-"+token {
		writeMSTRError(w, http.StatusUnauthorized, "ERR009", "the user session is invalid or timed out", "")
		return
	}
	if r.URL.Path == "/api/auth/logout" {
		s.mu.Lock()
		s.token = ""
		s.logout = r.Clone(context.Background())
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	rec := r.Clone(context.Background())
	rec.Body = io.NopCloser(bytes.NewReader(body))
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	s.handle(w, r)
}

func (s *testServer) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *testServer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		out = append(out, r.Method+" "+r.URL.Path)
	}
	return out
}

// newRawServer serves h as the whole API, login included.
func newRawServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func writeMSTRError(w http.ResponseWriter, status int, code, msg, ticket string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "ticketId": ticket})
}

// newTestClient makes a client for url with a fake clock, fast settings and a debug logger
// writing to the returned buffer.
func newTestClient(t testing.TB, url string, mods ...func(*Config)) (*Client, *testutil.FakeClock, *testutil.SyncBuffer) {
	t.Helper()
	clock := testutil.NewFakeClock(time.Date(2024, 1, 31, 12, 0, 0, 0, time.UTC))
	logs := &testutil.SyncBuffer{}
	cfg := Config{
		BaseURL:        url + "/",
		ProjectID:      "B7CA92F04B9FAE8D941C3E9B7E0CD754",
		Username:       "alice",
		Password:       testPassword,
		RequestTimeout: 10 * time.Second,
		CallRetries:    3,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:          clock,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, clock, logs
}

// loggedIn is newTestClient followed by a successful Login.
func loggedIn(t testing.TB, url string, mods ...func(*Config)) (*Client, *testutil.FakeClock, *testutil.SyncBuffer) {
	t.Helper()
	c, clock, logs := newTestClient(t, url, mods...)
	if err := c.Login(context.Background()); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c, clock, logs
}

// numbersChunk makes a one-column chunk holding the integers from..to-1.
func numbersChunk(from, to int) *Chunk {
	vals := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		vals = append(vals, fmt.Sprint(i))
	}
	return NewChunk(to-from, [][]byte{[]byte(strings.Join(vals, ","))}, nil)
}
