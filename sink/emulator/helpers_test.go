package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/sink"
)

const testProject = "B7CA92F04B9FAE8D941C3E9B7E0CD754"

// testBundle is a running emulator and a client logged in to it.
type testBundle struct {
	srv *Server
	url string // base URL, ending in /MicroStrategyLibrary
	c   *apiClient
}

func setup(t testing.TB, opts Options) *testBundle {
	t.Helper()
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b := &testBundle{srv: srv, url: ts.URL + "/MicroStrategyLibrary"}
	b.c = newClient(t, b.url)
	b.c.login("alice", "secret")
	return b
}

// apiClient is a bare-bones Push API client made of plain net/http requests, so the tests
// control every byte the emulator sees.
type apiClient struct {
	t     testing.TB
	base  string
	http  *http.Client
	token string
}

func newClient(t testing.TB, base string) *apiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request; body is sent as is when it is a string or []byte, as JSON otherwise.
func (c *apiClient) send(method, path string, body any, header map[string]string) response {
	c.t.Helper()
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case url.Values:
		r = strings.NewReader(b.Encode())
		ct = "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("X-MSTR-AuthToken", c.token)
	}
	req.Header.Set("X-MSTR-ProjectID", testProject)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request that has to answer want.
func (c *apiClient) must(want int, method, path string, body any) response {
	c.t.Helper()
	resp := c.send(method, path, body, nil)
	if resp.status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.status, want, resp.body)
	}
	return resp
}

func (c *apiClient) login(user, password string) {
	c.t.Helper()
	resp := c.must(http.StatusNoContent, "POST", "/api/auth/login", map[string]any{"username": user, "password": password, "loginMode": 1})
	c.token = resp.header.Get("X-MSTR-AuthToken")
	if c.token == "" {
		c.t.Fatal("login: no X-MSTR-AuthToken header")
	}
}

// salesModel is a two-table model: orders (attributes order_id, store; metrics amount, qty)
// and stores (attribute store, name; metric area). store links the tables.
func salesModel(name string) sink.Model {
	return sink.Model{
		Name: name,
		Tables: []sink.ModelTable{
			{Name: "orders", Columns: []sink.Column{
				{Name: "order_id", DataType: sink.Integer}, {Name: "store", DataType: sink.String},
				{Name: "amount", DataType: sink.Double}, {Name: "qty", DataType: sink.BigInteger},
			}},
			{Name: "stores", Columns: []sink.Column{
				{Name: "store", DataType: sink.String}, {Name: "name", DataType: sink.String},
				{Name: "area", DataType: sink.BigDecimal},
			}},
		},
		Attributes: []sink.Attribute{
			attr("order_id", "orders"),
			attr("store", "orders", "stores"),
			attr("name", "stores"),
		},
		Metrics: []sink.Metric{metric("amount", "orders"), metric("qty", "orders"), metric("area", "stores")},
	}
}

func attr(column string, tables ...string) sink.Attribute {
	var exprs []sink.Expression
	for _, t := range tables {
		exprs = append(exprs, sink.Expression{TableName: t, ColumnName: column})
	}
	return sink.Attribute{Name: column, Forms: []sink.AttributeForm{{Category: "ID", Expressions: exprs}}}
}

func metric(column, table string) sink.Metric {
	return sink.Metric{Name: column, Expressions: []sink.Expression{{TableName: table, ColumnName: column}}}
}

func (c *apiClient) createDataset(m sink.Model) string {
	c.t.Helper()
	resp := c.must(http.StatusOK, "POST", "/api/datasets/models", m)
	var out struct{ ID, Name string }
	if err := json.Unmarshal(resp.body, &out); err != nil || out.ID == "" {
		c.t.Fatalf("create dataset: bad answer %s (%v)", resp.body, err)
	}
	return out.ID
}

// openSession opens an upload session for tables in COLUMN orientation with the dataset's
// column order.
func (c *apiClient) openSession(dsID string, tables ...sink.SessionTable) string {
	c.t.Helper()
	resp := c.must(http.StatusOK, "POST", "/api/datasets/"+dsID+"/uploadSessions", map[string]any{"tables": tables})
	var out struct{ UploadSessionID string }
	if err := json.Unmarshal(resp.body, &out); err != nil || out.UploadSessionID == "" {
		c.t.Fatalf("open session: bad answer %s (%v)", resp.body, err)
	}
	return out.UploadSessionID
}

func colTable(name string, policy sink.Policy, headers ...string) sink.SessionTable {
	return sink.SessionTable{Name: name, UpdatePolicy: policy, Orientation: "COLUMN", ColumnHeaders: headers}
}

// put uploads data (a JSON text) as chunk index of table.
func (c *apiClient) put(dsID, sid, table string, index any, data string) response {
	c.t.Helper()
	body := map[string]any{"tableName": table, "index": index, "data": base64.StdEncoding.EncodeToString([]byte(data))}
	return c.send("PUT", "/api/datasets/"+dsID+"/uploadSessions/"+sid, body, nil)
}

func (c *apiClient) mustPut(dsID, sid, table string, index any, data string) {
	c.t.Helper()
	if resp := c.put(dsID, sid, table, index, data); resp.status != http.StatusOK {
		c.t.Fatalf("PUT %s chunk %v: status %d, body %s", table, index, resp.status, resp.body)
	}
}

// publish publishes the session and polls publishStatus until it leaves 6; it returns the
// final status and message.
func (c *apiClient) publish(dsID, sid string) (int, string) {
	c.t.Helper()
	path := "/api/datasets/" + dsID + "/uploadSessions/" + sid
	c.must(http.StatusOK, "POST", path+"/publish", nil)
	var n int
	var msg string
	if !testutil.Eventually(10*time.Second, func() bool {
		resp := c.must(http.StatusOK, "GET", path+"/publishStatus", nil)
		var st struct {
			Status  json.RawMessage
			Message string
		}
		if err := json.Unmarshal(resp.body, &st); err != nil {
			c.t.Fatalf("publishStatus: %v in %s", err, resp.body)
		}
		if err := json.Unmarshal(st.Status, &n); err != nil {
			c.t.Fatalf("publishStatus: status %s is not a JSON number", st.Status)
		}
		msg = st.Message
		return n != statusPublishing
	}) {
		c.t.Fatal("publish did not finish within 10s")
	}
	return n, msg
}

func (c *apiClient) mustPublish(dsID, sid string) {
	c.t.Helper()
	if st, msg := c.publish(dsID, sid); st != statusReady {
		c.t.Fatalf("publish ended in status %d (%s), want 1", st, msg)
	}
}

// wantError checks that resp is a MicroStrategy error with status and code whose message
// contains every one of parts.
func wantError(t testing.TB, resp response, status int, code string, parts ...string) {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d, want %d; body %s", resp.status, status, resp.body)
	}
	var e struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		TicketID string `json:"ticketId"`
	}
	if err := json.Unmarshal(resp.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, resp.body)
	}
	if e.Code != code {
		t.Errorf("code %q, want %q (message %q)", e.Code, code, e.Message)
	}
	if len(e.TicketID) != 32 {
		t.Errorf("ticketId %q, want 32 hex digits", e.TicketID)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Errorf("message %q does not mention %q", e.Message, p)
		}
	}
}

// rows reads a table back as JSON text per row, for comparisons that show exact numbers.
func rows(t testing.TB, srv *Server, dsID, table string) []string {
	t.Helper()
	tb, err := srv.Table(dsID, table)
	if err != nil {
		t.Fatalf("Table(%s): %v", table, err)
	}
	out := make([]string, len(tb.Rows))
	for i, r := range tb.Rows {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// newTestServer serves srv on a loopback port until the test ends and returns its base URL.
func newTestServer(t testing.TB, srv *Server) string {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL + "/MicroStrategyLibrary"
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}
