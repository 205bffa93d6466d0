package sink

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{6, 15 * time.Second, 30 * time.Second},
		{40, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := backoff(time.Second, tt.retry); got < tt.min || got > tt.max {
				t.Fatalf("backoff(1s, %d) = %v, want within [%v, %v]", tt.retry, got, tt.min, tt.max)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 31, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"absent", "", 0, false},
		{"seconds", "7", 7 * time.Second, true},
		{"huge seconds are capped", "999999999999", maxRetryAfter, true},
		{"http date", now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second, true},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"garbage", "soon", 0, false},
		{"negative", "-3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := retryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestCallFaults drives one call (Definition) through the failure shapes a real deployment
// produces and checks what the caller sees: how often the call was sent, how long the client
// waited, and the error.
func TestCallFaults(t *testing.T) {
	const definition = `{"id":"D1","name":"Sales","result":{"definition":{"availableObjects":{"tables":[],"columns":[]}}}}`
	// fail answers the first n calls with f, then succeeds.
	fail := func(n int, f func(w http.ResponseWriter, r *http.Request)) func(*atomic.Int32) http.HandlerFunc {
		return func(count *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if int(count.Add(1)) <= n {
					f(w, r)
					return
				}
				w.Write([]byte(definition))
			}
		}
	}
	status := func(code int, body string, header ...string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			w.Write([]byte(body))
		}
	}
	reset := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.(*net.TCPConn).SetLinger(0) // close with RST: "connection reset by peer"
		conn.Close()
	}
	proxyPage := "<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>"

	tests := []struct {
		name      string
		handler   func(*atomic.Int32) http.HandlerFunc
		wantCalls int32
		wantErr   string // exact error text; "" = success
		checkWait func([]time.Duration) string
	}{
		{
			name:      "500 then success",
			handler:   fail(1, status(500, `{"code":"ERR001","message":"boom"}`)),
			wantCalls: 2,
		},
		{
			name:      "connection reset then success",
			handler:   fail(1, reset),
			wantCalls: 2,
		},
		{
			name:      "persistent proxy page",
			handler:   fail(100, status(502, proxyPage, "Content-Type", "text/html")),
			wantCalls: 4,
			wantErr:   "read definition of dataset D1: 502 Bad Gateway (4 attempts)",
			checkWait: func(d []time.Duration) string {
				if len(d) != 3 || d[0] > time.Second || d[1] > 2*time.Second || d[2] < 2*time.Second || d[2] > 4*time.Second {
					return "want three growing backoffs of about 1s, 2s, 4s"
				}
				return ""
			},
		},
		{
			name:      "429 with Retry-After seconds",
			handler:   fail(1, status(429, `{"code":"ERR001","message":"slow down"}`, "Retry-After", "7")),
			wantCalls: 2,
			checkWait: func(d []time.Duration) string {
				if len(d) != 1 || d[0] != 7*time.Second {
					return "want one wait of exactly 7s"
				}
				return ""
			},
		},
		{
			name: "503 with Retry-After date",
			handler: fail(1, status(503, "", "Retry-After",
				time.Date(2024, 1, 31, 12, 0, 42, 0, time.UTC).Format(http.TimeFormat))),
			wantCalls: 2,
			checkWait: func(d []time.Duration) string {
				if len(d) != 1 || d[0] != 42*time.Second {
					return "want one wait of 42s, until the date"
				}
				return ""
			},
		},
		{
			name:      "400 is not retried",
			handler:   fail(100, status(400, `{"code":"ERR006","message":"Invalid JSON\n at line 1","ticketId":"3F2A9C","iServerCode":-2147072488}`)),
			wantCalls: 1,
			wantErr:   "read definition of dataset D1: 400 ERR006 Invalid JSON at line 1 (ticket 3F2A9C, iServerCode -2147072488)",
		},
		{
			name:      "403 is not retried",
			handler:   fail(100, status(403, `{"errors":[{"code":"ERR014","message":"no privilege","ticketId":"T4"}]}`)),
			wantCalls: 1,
			wantErr:   "read definition of dataset D1: 403 ERR014 no privilege (ticket T4); the user may not read this dataset: ask the MicroStrategy administrator",
		},
		{
			name:      "404 is not retried and says what to do",
			handler:   fail(100, status(404, `{"code":"ERR004","message":"dataset not found","ticketId":"T5"}`)),
			wantCalls: 1,
			wantErr:   "read definition of dataset D1: 404 ERR004 dataset not found (ticket T5); the dataset does not exist (any more) in this project",
		},
		{
			name:      "i-server timeout as 500 with string iServerCode",
			handler:   fail(100, status(500, `{"code":"ERR002","message":"request timed out","iServerCode":"-2147206497"}`)),
			wantCalls: 4,
			wantErr:   "read definition of dataset D1: 500 ERR002 request timed out (iServerCode -2147206497, 4 attempts)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var count atomic.Int32
			srv := newTestServer(t, tt.handler(&count))
			c, clock, _ := loggedIn(t, srv.URL)
			d, err := c.Definition(context.Background(), "D1")
			if got := count.Load(); got != tt.wantCalls {
				t.Errorf("server saw %d calls, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || d.Name != "Sales" {
					t.Fatalf("Definition = %v, %v; want the definition of Sales", d, err)
				}
			} else if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Definition error =\n  %v\nwant\n  %s", err, tt.wantErr)
			}
			if tt.checkWait != nil {
				if msg := tt.checkWait(clock.Sleeps()); msg != "" {
					t.Errorf("waits = %v: %s", clock.Sleeps(), msg)
				}
			}
		})
	}
}

func TestCallTimeoutIsRetried(t *testing.T) {
	var count atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) == 1 {
			select { // hang past the client's RequestTimeout
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Write([]byte(`{"id":"D1"}`))
	})
	c, _, _ := loggedIn(t, srv.URL, func(c *Config) { c.RequestTimeout = 100 * time.Millisecond })
	id, err := c.CreateDataset(context.Background(), Model{Name: "S", Tables: []ModelTable{{Name: "t"}}})
	if err != nil || id != "D1" {
		t.Fatalf("CreateDataset = %q, %v; want D1 after the timed-out call was repeated", id, err)
	}
	if count.Load() != 2 {
		t.Errorf("server saw %d calls, want 2", count.Load())
	}
}

func TestCancelledContextStopsRetries(t *testing.T) {
	var count atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c, _, _ := loggedIn(t, srv.URL)
	_, err := c.Definition(ctx, "D1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Definition error = %v, want context.Canceled", err)
	}
	if !strings.HasPrefix(err.Error(), "read definition of dataset D1: ") {
		t.Errorf("error %q does not say which call was stopped", err)
	}
	if count.Load() != 1 {
		t.Errorf("server saw %d calls after the context ended, want 1", count.Load())
	}
}

func TestCallRetriesZeroSendsOnce(t *testing.T) {
	var count atomic.Int32
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		writeMSTRError(w, http.StatusInternalServerError, "ERR001", "boom", "")
	})
	c, clock, _ := loggedIn(t, srv.URL, func(c *Config) { c.CallRetries = 0 })
	_, err := c.Definition(context.Background(), "D1")
	if !Temporary(err) {
		t.Fatalf("Definition error = %v, want the 500", err)
	}
	if count.Load() != 1 {
		t.Errorf("server saw %d calls with CallRetries 0, want exactly 1", count.Load())
	}
	if waits := clock.Sleeps(); len(waits) != 0 {
		t.Errorf("client waited %v before giving up, want no wait", waits)
	}
	if _, err := NewClient(Config{BaseURL: srv.URL, ProjectID: "P", Username: "u", CallRetries: -1}); err == nil {
		t.Error("NewClient accepted CallRetries -1")
	}
}
