package sink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// pushServer is a testServer that answers an upload session S1 on dataset D1 and records
// every chunk it accepts, decoded.
type pushServer struct {
	*testServer
	mu       sync.Mutex
	chunks   []pushedChunk
	put      func(w http.ResponseWriter, r *http.Request, body []byte) bool // true: handled (a fault)
	statuses []string                                                       // publishStatus bodies, the last one repeats
	polls    int
	deletes  int
}

type pushedChunk struct {
	Table string
	Index int
	Data  []byte // the chunk's JSON document
}

func (c pushedChunk) String() string { return fmt.Sprintf("%s#%d %s", c.Table, c.Index, c.Data) }

func newPushServer(t testing.TB) *pushServer {
	t.Helper()
	p := &pushServer{statuses: []string{`{"status":1,"message":"result ready"}`}}
	p.testServer = newTestServer(t, p.serve)
	return p
}

func (p *pushServer) serve(w http.ResponseWriter, r *http.Request) {
	const session = "/api/datasets/D1/uploadSessions/S1"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/datasets/D1/uploadSessions":
		w.Write([]byte(`{"uploadSessionId":"S1"}`))
	case r.Method == http.MethodPut && r.URL.Path == session:
		body, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(body)) {
			writeMSTRError(w, 400, "ERR006", fmt.Sprintf("Content-Length %d but body of %d bytes", r.ContentLength, len(body)), "")
			return
		}
		p.mu.Lock()
		put := p.put
		p.mu.Unlock()
		if put != nil && put(w, r, body) {
			return
		}
		var doc struct {
			TableName string `json:"tableName"`
			Index     int    `json:"index"`
			Data      string `json:"data"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			writeMSTRError(w, 400, "ERR006", "Invalid JSON: "+err.Error(), "")
			return
		}
		data, err := base64.StdEncoding.DecodeString(doc.Data)
		if err != nil {
			writeMSTRError(w, 400, "ERR006", "invalid base64: "+err.Error(), "")
			return
		}
		p.mu.Lock()
		p.chunks = append(p.chunks, pushedChunk{doc.TableName, doc.Index, data})
		p.mu.Unlock()
	case r.Method == http.MethodPost && r.URL.Path == session+"/publish":
	case r.Method == http.MethodGet && r.URL.Path == session+"/publishStatus":
		p.mu.Lock()
		body := p.statuses[min(p.polls, len(p.statuses)-1)]
		p.polls++
		p.mu.Unlock()
		w.Write([]byte(body))
	case r.Method == http.MethodDelete && r.URL.Path == session:
		p.mu.Lock()
		p.deletes++
		p.mu.Unlock()
	default:
		writeMSTRError(w, 404, "ERR004", "HTTP 404 Not Found", "")
	}
}

func (p *pushServer) pushed() []pushedChunk {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.chunks)
}

func (p *pushServer) deleteCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deletes
}

func (p *pushServer) setStatuses(bodies ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses = bodies
}

func (p *pushServer) pollCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls
}

func (p *pushServer) setPut(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.put = f
}

var testTables = []SessionTable{
	{Name: "orders", UpdatePolicy: Upsert, ColumnHeaders: []string{"n"}},
	{Name: "stores", UpdatePolicy: Replace, ColumnHeaders: []string{"n"}},
}

func openTestSession(t testing.TB, p *pushServer, mods ...func(*Config)) (*Session, *testutil.FakeClock, *testutil.SyncBuffer) {
	t.Helper()
	c, clock, logs := loggedIn(t, p.URL, mods...)
	s, err := c.OpenSession(context.Background(), "D1", testTables)
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	return s, clock, logs
}

func TestOpenSessionRequest(t *testing.T) {
	p := newPushServer(t)
	s, _, _ := openTestSession(t, p)
	if s.ID() != "S1" || s.DatasetID() != "D1" {
		t.Fatalf("session = %s on %s, want S1 on D1", s.ID(), s.DatasetID())
	}
	var body struct{ Tables []SessionTable }
	if err := json.NewDecoder(p.request(0).Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	want := []SessionTable{
		{Name: "orders", UpdatePolicy: Upsert, Orientation: "COLUMN", ColumnHeaders: []string{"n"}},
		{Name: "stores", UpdatePolicy: Replace, Orientation: "COLUMN", ColumnHeaders: []string{"n"}},
	}
	if fmt.Sprint(body.Tables) != fmt.Sprint(want) {
		t.Errorf("uploadSessions body tables = %+v, want %+v", body.Tables, want)
	}
}

func TestOpenSessionRefusesBadTables(t *testing.T) {
	p := newPushServer(t)
	c, _, _ := loggedIn(t, p.URL)
	tests := []struct {
		name    string
		tables  []SessionTable
		wantErr string
	}{
		{"none", nil, "no tables"},
		{"twice", []SessionTable{{Name: "a", UpdatePolicy: Add}, {Name: "a", UpdatePolicy: Add}}, `table "a" is listed twice`},
		{"row orientation", []SessionTable{{Name: "a", UpdatePolicy: Add, Orientation: "ROW"}}, `orientation "ROW" is not supported`},
		{"bad policy", []SessionTable{{Name: "a", UpdatePolicy: "upsrt"}}, `unknown update policy "upsrt" (want add, update, upsert or replace)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.OpenSession(context.Background(), "D1", tt.tables)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("OpenSession error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if len(p.calls()) != 0 {
		t.Errorf("refused sessions still made calls: %v", p.calls())
	}
}

func TestUploadIndicesAndBody(t *testing.T) {
	p := newPushServer(t)
	s, _, logs := openTestSession(t, p)
	ctx := context.Background()
	var sent []pushedChunk
	upload := func(table string, ch *Chunk) {
		t.Helper()
		if err := s.Upload(ctx, table, ch); err != nil {
			t.Fatalf("Upload %s: %v", table, err)
		}
		idx := 1
		for _, c := range sent {
			if c.Table == table {
				idx++
			}
		}
		sent = append(sent, pushedChunk{table, idx, ch.Bytes()})
	}
	upload("orders", NewChunk(2, [][]byte{[]byte(`1,2`), []byte(`"a\"b","ü"`)}, nil))
	upload("orders", numbersChunk(2, 5))
	upload("stores", numbersChunk(0, 1))
	upload("orders", NewChunk(1, [][]byte{[]byte(`null`)}, nil)) // 1 + 2 base64 padding

	if got := p.pushed(); fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("server received\n  %v\nwant\n  %v", got, sent)
	}
	if !strings.Contains(logs.String(), `msg="chunk pushed" table=orders index=2 rows=3 bytes=9`) {
		t.Errorf("no debug log line for chunk 2 of orders in:\n%s", logs)
	}
	if err := s.Upload(ctx, "customers", numbersChunk(0, 1)); err == nil || !strings.Contains(err.Error(), `upload table "customers": not part of upload session S1 (its tables: orders, stores)`) {
		t.Errorf("Upload of a table outside the session = %v, want an error naming it", err)
	}
}

func TestUploadRetriesWithSameIndex(t *testing.T) {
	p := newPushServer(t)
	var puts atomic.Int32
	var seen []string
	var mu sync.Mutex
	p.setPut(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		mu.Lock()
		seen = append(seen, string(body))
		mu.Unlock()
		if puts.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	s, clock, _ := openTestSession(t, p)
	if err := s.Upload(context.Background(), "orders", numbersChunk(0, 100)); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if len(seen) != 3 || seen[0] != seen[1] || seen[1] != seen[2] {
		t.Fatalf("PUT bodies = %d, want 3 identical ones (same index, same data)", len(seen))
	}
	if !strings.Contains(seen[0], `"index":1,`) {
		t.Errorf("retried PUT body %.60q..., want index 1", seen[0])
	}
	if len(clock.Sleeps()) != 2 {
		t.Errorf("waits = %v, want two backoffs", clock.Sleeps())
	}
	got := p.pushed()
	if len(got) != 1 || got[0].Index != 1 || got[0].Table != "orders" {
		t.Errorf("pushed = %v, want one chunk, orders #1", got)
	}
}

func TestUploadSplitsTooLargeChunks(t *testing.T) {
	const limit = 300 // bytes of request body the "server" takes
	p := newPushServer(t)
	p.setPut(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if len(body) > limit {
			writeMSTRError(w, http.StatusRequestEntityTooLarge, "ERR006", "request too large", "")
			return true
		}
		return false
	})
	s, _, _ := openTestSession(t, p)
	ctx := context.Background()
	big := numbersChunk(0, 200) // ~690 bytes of JSON, ~920 of base64: needs 4 parts
	if err := s.Upload(ctx, "orders", big); err != nil {
		t.Fatalf("Upload of a chunk above the limit: %v", err)
	}
	if err := s.Upload(ctx, "orders", numbersChunk(200, 210)); err != nil {
		t.Fatalf("Upload after a split: %v", err)
	}
	var all []int
	for i, c := range p.pushed() {
		if c.Index != i+1 {
			t.Fatalf("chunk %d has index %d, want consecutive indices from 1", i, c.Index)
		}
		var cols [][]int
		if err := json.Unmarshal(c.Data, &cols); err != nil {
			t.Fatal(err)
		}
		all = append(all, cols[0]...)
	}
	if len(p.pushed()) < 5 {
		t.Errorf("pushed %d chunks, want the big one split into at least 4", len(p.pushed()))
	}
	for i, v := range all {
		if v != i {
			t.Fatalf("row %d = %d after splitting: rows lost, duplicated or out of order", i, v)
		}
	}
	if len(all) != 210 {
		t.Errorf("rows pushed = %d, want 210", len(all))
	}

	t.Run("one row too large", func(t *testing.T) {
		huge := NewChunk(1, [][]byte{[]byte(`"` + strings.Repeat("x", 400) + `"`)}, nil)
		err := s.Upload(ctx, "stores", huge)
		if !IsTooLarge(err) || !strings.Contains(err.Error(), "a single row is larger than the server's maximum request size") {
			t.Fatalf("Upload of an oversized row = %v, want a 413 saying one row is too large", err)
		}
		if !Permanent(err) {
			t.Errorf("Permanent(%v) = false, want true", err)
		}
	})
}

func TestUploadConcurrentTables(t *testing.T) {
	p := newPushServer(t)
	s, _, _ := openTestSession(t, p)
	var wg sync.WaitGroup
	for _, table := range []string{"orders", "stores"} {
		wg.Go(func() {
			for i := range 20 {
				if err := s.Upload(context.Background(), table, numbersChunk(i*10, i*10+10)); err != nil {
					t.Errorf("Upload %s: %v", table, err)
				}
			}
		})
	}
	wg.Wait()
	for _, table := range []string{"orders", "stores"} {
		var idx []int
		for _, c := range p.pushed() {
			if c.Table == table {
				idx = append(idx, c.Index)
			}
		}
		slices.Sort(idx)
		for i, v := range idx {
			if v != i+1 {
				t.Fatalf("%s indices = %v, want 1..20 each once", table, idx)
			}
		}
	}
}

// TestUploadStreamsBody checks that a chunk is base64-encoded while it is sent: the client
// allocates far less than the encoded body it sends.
func TestUploadStreamsBody(t *testing.T) {
	var received atomic.Int64
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/auth/login":
			w.Header().Set("X-MSTR-AuthToken", "tok")
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "c", Path: "/"})
			w.WriteHeader(http.StatusNoContent)
		case "/api/datasets/D1/uploadSessions":
			w.Write([]byte(`{"uploadSessionId":"S1"}`))
		default:
			n, _ := io.Copy(io.Discard, r.Body)
			received.Add(n)
		}
	})
	c, _, _ := loggedIn(t, srv.URL)
	s, err := c.OpenSession(context.Background(), "D1", testTables)
	if err != nil {
		t.Fatal(err)
	}
	col := []byte(strings.Repeat(`"abcdefghijklmnopqrstuvwxyz",`, 1<<18)) // 7.3 MB
	ch := NewChunk(1<<18, [][]byte{col[:len(col)-1]}, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.Upload(context.Background(), "orders", ch); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	runtime.ReadMemStats(&after)
	if want := encodedLen(ch.Len()); received.Load() < want {
		t.Fatalf("server received %d bytes, want at least the %d of base64", received.Load(), want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(ch.Len())/4 {
		t.Errorf("uploading a %d-byte chunk allocated %d bytes; want the body streamed, not copied", ch.Len(), alloc)
	}
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []string
		timeout   time.Duration
		wantPolls int
		wantErr   string
	}{
		{"done at once", []string{`{"status":1,"message":"result ready"}`}, 0, 1, ""},
		{"in progress then done", []string{`{"status":6}`, `{"status":4}`, `{"status":5}`, `{"status":7}`, `{"status":"1"}`}, 0, 5, ""},
		{"error status", []string{`{"status":6}`, `{"status":3,"message":"Data source\nerror"}`}, 0, 2,
			`publish upload session S1 of dataset D1: failed with status 3 "Data source error"; nothing was published, run the job again once the cause is fixed`},
		{"statuses outside the old table are in progress", []string{`{"status":8,"message":"resolution"}`, `{"status":9}`, `{"status":10}`, `{"status":-1}`, `{"status":1}`}, 0, 5, ""},
		{"status as a numeric string", []string{`{"status":"4"}`, `{"status":" 8 "}`, `{"status":"1"}`}, 0, 3, ""},
		{"status as a whole float", []string{`{"status":6.0}`, `{"status":1.0}`}, 0, 2, ""},
		{"error status as a string", []string{`{"status":"3","message":"cube failed"}`}, 0, 1, `failed with status 3 "cube failed"`},
		{"timeout", []string{`{"status":6,"message":"sql execution"}`}, 10 * time.Second, 11,
			`publish did not finish in time: still status 6 "sql execution" after 11s`},
		{"no status", []string{`{"message":"?"}`}, 0, 1, "the server's answer has no numeric status"},
		{"status not a number", []string{`{"status":"done"}`}, 0, 1, "the server's answer has no numeric status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPushServer(t)
			p.setStatuses(tt.statuses...)
			s, clock, _ := openTestSession(t, p, func(c *Config) { c.PublishTimeout = tt.timeout })
			err := s.Publish(context.Background())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Publish error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := p.pollCount(); got != tt.wantPolls {
				t.Errorf("publishStatus polled %d times, want %d", got, tt.wantPolls)
			}
			waits := clock.Sleeps()
			if waits[0] < 100*time.Millisecond || waits[0] > 200*time.Millisecond {
				t.Errorf("first poll after %v, want 100-200ms", waits[0])
			}
			for i := 1; i < len(waits); i++ {
				if waits[i] < waits[i-1] || waits[i] > 2*time.Second {
					t.Errorf("poll delays %v: want growing, at most 2s", waits)
					break
				}
			}
		})
	}
	t.Run("timeout error is typed", func(t *testing.T) {
		p := newPushServer(t)
		p.setStatuses(`{"status":6}`)
		s, _, _ := openTestSession(t, p, func(c *Config) { c.PublishTimeout = time.Second })
		if err := s.Publish(context.Background()); !errors.Is(err, ErrPublishTimeout) {
			t.Errorf("Publish error = %v, want ErrPublishTimeout", err)
		}
	})
	t.Run("publish error is typed", func(t *testing.T) {
		p := newPushServer(t)
		p.setStatuses(`{"status":3,"message":"x"}`)
		s, _, _ := openTestSession(t, p)
		var pe *PublishError
		if err := s.Publish(context.Background()); !errors.As(err, &pe) || pe.Status != 3 {
			t.Errorf("Publish error = %v, want a *PublishError with status 3", err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Run("after the run's context ended", func(t *testing.T) {
		p := newPushServer(t)
		s, _, _ := openTestSession(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Upload(ctx, "orders", numbersChunk(0, 3)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Upload with an ended context = %v, want context.Canceled", err)
		}
		if err := s.Cancel(); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if p.deleteCount() != 1 {
			t.Fatalf("DELETE sent %d times, want once", p.deleteCount())
		}
		if err := s.Cancel(); err != nil || p.deleteCount() != 1 {
			t.Errorf("second Cancel = %v with %d DELETEs, want nil and no new call", err, p.deleteCount())
		}
		if err := s.Upload(context.Background(), "orders", numbersChunk(0, 3)); err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("Upload after Cancel = %v, want an error saying the session is cancelled", err)
		}
	})
	t.Run("after publish does nothing", func(t *testing.T) {
		p := newPushServer(t)
		s, _, _ := openTestSession(t, p)
		if err := s.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(); err != nil || p.deleteCount() != 0 {
			t.Errorf("Cancel after publish = %v with %d DELETEs, want nil and none", err, p.deleteCount())
		}
	})
	t.Run("session already gone", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeMSTRError(w, http.StatusNotFound, "ERR004", "upload session not found", "")
		})
		c, _, _ := loggedIn(t, srv.URL)
		if err := c.CancelSession(context.Background(), "D1", "S-dead"); err != nil {
			t.Errorf("CancelSession of an unknown session = %v, want nil", err)
		}
		if got := srv.calls(); len(got) != 1 || got[0] != "DELETE /api/datasets/D1/uploadSessions/S-dead" {
			t.Errorf("calls = %v, want one DELETE of the session", got)
		}
	})
}

// TestSecretsNeverShown runs failures whose server messages echo the password and the token,
// and checks that neither appears in any error or log line.
func TestSecretsNeverShown(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("X-MSTR-AuthToken")
		writeMSTRError(w, http.StatusBadRequest, "ERR006", "bad request from alice/"+testPassword+" with token "+token, "T1")
	})
	c, _, logs := loggedIn(t, srv.URL)
	token := srv.currentToken()
	var errs []error
	_, err := c.CreateDataset(context.Background(), Model{Name: "S", Tables: []ModelTable{{Name: "t"}}})
	errs = append(errs, err)
	_, err = c.OpenSession(context.Background(), "D1", testTables)
	errs = append(errs, err)
	srv.expireSession()
	_, err = c.Definition(context.Background(), "D1")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failing call returned no error")
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("error %q: want the echoed secrets replaced by [redacted]", err)
		}
		for _, secret := range []string{testPassword, token, "secret-token-"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains a secret", err)
			}
		}
	}
	for _, secret := range []string{testPassword, token, "secret-token-"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain a secret:\n%s", logs)
		}
	}
}

// BenchmarkUpload measures the client's side of a chunk PUT (streamed base64, HTTP over
// loopback) against a server that discards the body; bytes/s are JSON bytes of the chunk.
func BenchmarkUpload(b *testing.B) {
	srv := newRawServer(b, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/auth/login":
			w.Header().Set("X-MSTR-AuthToken", "tok")
			w.WriteHeader(http.StatusNoContent)
		case "/api/datasets/D1/uploadSessions":
			w.Write([]byte(`{"uploadSessionId":"S1"}`))
		default:
			io.Copy(io.Discard, r.Body)
		}
	})
	c, _, _ := loggedIn(b, srv.URL)
	s, err := c.OpenSession(context.Background(), "D1", testTables)
	if err != nil {
		b.Fatal(err)
	}
	col := []byte(strings.Repeat(`"abcdefghijklmnopqrstuvwxyz",12345.678,`, 1<<18))
	ch := NewChunk(1<<19, [][]byte{col[:len(col)-1]}, nil)
	b.SetBytes(ch.Len())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Upload(context.Background(), "orders", ch); err != nil {
			b.Fatal(err)
		}
	}
}
