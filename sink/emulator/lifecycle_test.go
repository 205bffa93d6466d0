package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/sink"
)

var orderHeaders = []string{"order_id", "store", "amount", "qty"}

func TestDeleteCancels(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
	b.c.mustPublish(ds, sid)

	sid = b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[2],["b"],[2],[2]]`)
	path := "/api/datasets/" + ds + "/uploadSessions/" + sid
	b.c.must(http.StatusOK, "DELETE", path, nil)

	if got, want := rows(t, b.srv, ds, "orders"), []string{`[1,"a",1,1]`}; !slices.Equal(got, want) {
		t.Errorf("orders after a cancelled session = %v, want %v", got, want)
	}
	if open := b.srv.OpenSessions(); len(open) != 0 {
		t.Errorf("OpenSessions = %v after DELETE, want none", open)
	}
	wantError(t, b.c.send("POST", path+"/publish", nil, nil), http.StatusNotFound, "ERR004", sid)
	wantError(t, b.c.put(ds, sid, "orders", 2, `[[3],["c"],[3],[3]]`), http.StatusNotFound, "ERR004", sid)
	wantError(t, b.c.send("DELETE", path, nil, nil), http.StatusNotFound, "ERR004")

	t.Run("during a slow publish", func(t *testing.T) {
		b.srv.SetPublishDelay(time.Hour)
		sid := b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
		b.c.mustPut(ds, sid, "orders", 1, `[[9],["z"],[9],[9]]`)
		b.c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publish", nil)
		if open := b.srv.OpenSessions(); len(open) != 1 || !open[0].Published {
			t.Fatalf("OpenSessions during publish = %v, want one, published", open)
		}
		b.c.must(http.StatusOK, "DELETE", "/api/datasets/"+ds+"/uploadSessions/"+sid, nil)
		b.srv.SetPublishDelay(0)
		if got, want := rows(t, b.srv, ds, "orders"), []string{`[1,"a",1,1]`}; !slices.Equal(got, want) {
			t.Errorf("orders after a publish cancelled midway = %v, want %v", got, want)
		}
	})
}

func TestChangesVisibleOnlyAfterPublish(t *testing.T) {
	b := setup(t, Options{PublishDelay: time.Hour})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...), colTable("stores", sink.Add, "store", "name", "area"))
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
	b.c.mustPut(ds, sid, "stores", 1, `[["a"],["A"],[1]]`)
	b.c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publish", nil)
	var st struct{ Status int }
	mustJSON(t, b.c.must(http.StatusOK, "GET", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publishStatus", nil), &st)
	if st.Status != statusPublishing {
		t.Fatalf("publishStatus = %d, want 6 while the publish is delayed", st.Status)
	}
	if o, s := rows(t, b.srv, ds, "orders"), rows(t, b.srv, ds, "stores"); len(o)+len(s) != 0 {
		t.Fatalf("while publishing: orders %v, stores %v, want both empty", o, s)
	}
	wantError(t, b.c.put(ds, sid, "orders", 2, `[[2],["b"],[2],[2]]`), http.StatusBadRequest, "ERR006", "published")
	b.c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publish", nil) // repeated: no-op
	if err := b.srv.Close(); err != nil {                                                       // ends the pending publish unapplied
		t.Fatal(err)
	}
	if o := rows(t, b.srv, ds, "orders"); len(o) != 0 {
		t.Errorf("orders after Close interrupted the publish = %v, want none", o)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	first, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{srv: first, c: newClient(t, newTestServer(t, first))}
	b.c.login("alice", "secret")
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1,2],["a",null],[0.1,1e-7],[9223372036854775807,null]]`)
	b.c.mustPublish(ds, sid)
	want := rows(t, first, ds, "orders")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), datasetFileSuffix) {
			t.Errorf("data dir holds %s: want only dataset files (no temporary files left behind)", e.Name())
		}
	}

	second, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatalf("New on the same DataDir: %v", err)
	}
	t.Cleanup(func() { second.Close() })
	if got := rows(t, second, ds, "orders"); !slices.Equal(got, want) {
		t.Errorf("orders after restart = %v, want %v", got, want)
	}
	tb, _ := second.Table(ds, "orders")
	if _, ok := tb.Rows[0][3].(json.Number); !ok {
		t.Errorf("reloaded BIGINTEGER value is %T, want json.Number", tb.Rows[0][3])
	}
	if got := second.Datasets(); len(got) != 1 || got[0].ID != ds || !slices.Equal(got[0].Tables, []string{"orders", "stores"}) {
		t.Errorf("Datasets after restart = %+v, want Sales with orders and stores", got)
	}
	// The reloaded dataset takes further pushes with its policies.
	ts := newTestServer(t, second)
	c := newClient(t, ts)
	c.login("alice", "secret")
	sid = c.openSession(ds, colTable("orders", sink.Upsert, orderHeaders...))
	c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[5],[5]]`)
	c.mustPublish(ds, sid)
	if got := rows(t, second, ds, "orders"); got[0] != `[1,"a",5,5]` || len(got) != 2 {
		t.Errorf("orders after upsert on the reloaded dataset = %v", got)
	}
	t.Run("corrupt file", func(t *testing.T) {
		bad := t.TempDir()
		if err := writeFile(bad+"/X"+datasetFileSuffix, "{not json"); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Options{DataDir: bad}); err == nil || !strings.Contains(err.Error(), "X"+datasetFileSuffix) {
			t.Errorf("New with a corrupt dataset file: err = %v, want one naming the file", err)
		}
	})
}

func TestModelOverwrite(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
	b.c.mustPublish(ds, sid)
	open := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))

	again := b.c.createDataset(salesModel("Sales"))
	if again != ds {
		t.Errorf("same name, same folder: id %s, want the existing %s", again, ds)
	}
	if got := rows(t, b.srv, ds, "orders"); len(got) != 0 {
		t.Errorf("orders after overwrite = %v, want none", got)
	}
	wantError(t, b.c.put(ds, open, "orders", 1, `[[1],["a"],[1],[1]]`), http.StatusNotFound, "ERR004")
	m := salesModel("Sales")
	m.FolderID = "F0000000000000000000000000000001"
	if other := b.c.createDataset(m); other == ds {
		t.Error("same name in another folder overwrote the dataset")
	}
	if n := len(b.srv.Datasets()); n != 2 {
		t.Errorf("Datasets = %d, want 2", n)
	}
}

func TestFaults(t *testing.T) {
	t.Run("FailNth fails the nth call once", func(t *testing.T) {
		b := setup(t, Options{})
		ds := b.c.createDataset(salesModel("Sales"))
		sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
		b.srv.FailNth(CallPut, 2, http.StatusInternalServerError, "")
		b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
		resp := b.c.put(ds, sid, "orders", 2, `[[2],["b"],[2],[2]]`)
		wantError(t, resp, http.StatusInternalServerError, "ERR002")
		b.c.mustPut(ds, sid, "orders", 2, `[[2],["b"],[2],[2]]`) // the retry goes through
		b.c.mustPublish(ds, sid)
		if got := rows(t, b.srv, ds, "orders"); len(got) != 2 {
			t.Errorf("orders = %v, want 2 rows", got)
		}
		st := b.srv.Stats()
		if st.Calls[CallPut] != 3 || st.Chunks != 2 || st.Faults != 1 || st.RowsReceived != 2 {
			t.Errorf("Stats = %+v, want 3 PUT calls, 2 chunks, 2 rows, 1 fault", st)
		}
	})
	t.Run("a raw body and a 429", func(t *testing.T) {
		b := setup(t, Options{})
		b.srv.FailNth(CallSessions, 1, http.StatusBadGateway, "<html>bad gateway</html>")
		b.srv.FailNth(CallSessions, 2, http.StatusTooManyRequests, "")
		resp := b.c.send("GET", "/api/sessions", nil, nil)
		if resp.status != http.StatusBadGateway || string(resp.body) != "<html>bad gateway</html>" {
			t.Errorf("first call: %d %s, want the injected 502 page", resp.status, resp.body)
		}
		resp = b.c.send("GET", "/api/sessions", nil, nil)
		wantError(t, resp, http.StatusTooManyRequests, "ERR006")
		if resp.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		b.c.must(http.StatusOK, "GET", "/api/sessions", nil)
	})
	t.Run("FailPublish", func(t *testing.T) {
		b := setup(t, Options{})
		ds := b.c.createDataset(salesModel("Sales"))
		sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
		b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
		b.srv.FailPublish(3, "cube publication failed: out of memory")
		st, msg := b.c.publish(ds, sid)
		if st != 3 || msg != "cube publication failed: out of memory" {
			t.Errorf("publish = %d %q, want 3 and the injected message", st, msg)
		}
		if got := rows(t, b.srv, ds, "orders"); len(got) != 0 {
			t.Errorf("orders after a failed publish = %v, want none", got)
		}
		if open := b.srv.OpenSessions(); len(open) != 0 {
			t.Errorf("OpenSessions after a failed publish = %v, want none", open)
		}
		sid = b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...)) // only the next publish failed
		b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
		b.c.mustPublish(ds, sid)
	})
	t.Run("over HTTP", func(t *testing.T) {
		b := setup(t, Options{})
		admin := newClient(t, strings.TrimSuffix(b.url, "/MicroStrategyLibrary"))
		admin.must(http.StatusNoContent, "POST", "/emulator/faults/fail", `{"call":"model","n":1,"status":503}`)
		wantError(t, b.c.send("POST", "/api/datasets/models", salesModel("Sales"), nil), http.StatusServiceUnavailable, "ERR001")
		ds := b.c.createDataset(salesModel("Sales"))

		admin.must(http.StatusNoContent, "POST", "/emulator/faults/publish-delay", `{"delay":"1h"}`)
		sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
		b.c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publish", nil)
		var sessions struct{ Sessions []SessionInfo }
		mustJSON(t, admin.must(http.StatusOK, "GET", "/emulator/sessions", nil), &sessions)
		if len(sessions.Sessions) != 1 || !sessions.Sessions[0].Published {
			t.Errorf("GET /emulator/sessions = %+v, want one publishing session", sessions)
		}
		b.c.must(http.StatusOK, "DELETE", "/api/datasets/"+ds+"/uploadSessions/"+sid, nil)
		admin.must(http.StatusNoContent, "POST", "/emulator/faults/publish-delay", `{"delay":"0s"}`)

		admin.must(http.StatusNoContent, "POST", "/emulator/faults/fail-publish", `{"status":3,"message":"boom"}`)
		sid = b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
		if st, msg := b.c.publish(ds, sid); st != 3 || msg != "boom" {
			t.Errorf("publish = %d %q, want 3 boom", st, msg)
		}
		admin.must(http.StatusNoContent, "POST", "/emulator/faults/expire-sessions", nil)
		wantError(t, b.c.send("GET", "/api/sessions", nil, nil), http.StatusUnauthorized, "ERR009")

		admin.must(http.StatusNoContent, "POST", "/emulator/faults/fail", `{"call":"login","n":1,"status":500}`)
		admin.must(http.StatusNoContent, "DELETE", "/emulator/faults", nil)
		b.c.login("alice", "secret")
		wantError(t, admin.send("POST", "/emulator/faults/fail", `{"call":"nope","status":500}`, nil), http.StatusBadRequest, "ERR006", `"nope"`)
		wantError(t, admin.send("POST", "/emulator/faults/publish-delay", `{"delay":"soon"}`, nil), http.StatusBadRequest, "ERR006", `"soon"`)
		var st Stats
		mustJSON(t, admin.must(http.StatusOK, "GET", "/emulator/stats", nil), &st)
		if st.Faults != 1 || st.Calls[CallModel] != 2 {
			t.Errorf("GET /emulator/stats = %+v, want 1 fault and 2 model calls", st)
		}
	})
}

func TestConcurrentPuts(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...), colTable("stores", sink.Add, "store", "name", "area"))
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				idx := w*perWorker + i + 1
				table, data := "orders", fmt.Sprintf(`[[%d,%d],["s%d","s%d"],[1.5,2.5],[1,2]]`, idx, idx, idx, idx+1000)
				if idx%2 == 0 {
					table, data = "stores", fmt.Sprintf(`[["s%d"],["n"],[1]]`, idx)
				}
				body := map[string]any{"tableName": table, "index": idx, "data": base64.StdEncoding.EncodeToString([]byte(data))}
				resp := b.c.send("PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, body, nil)
				if resp.status != http.StatusOK {
					errs <- fmt.Errorf("chunk %d: %d %s", idx, resp.status, resp.body)
				}
				_ = b.srv.OpenSessions() // readers race with writers too
				_, _ = b.srv.Table(ds, "orders")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b.c.mustPublish(ds, sid)
	if got := rows(t, b.srv, ds, "orders"); len(got) != workers*perWorker {
		t.Errorf("orders has %d rows, want %d", len(got), workers*perWorker)
	}
	if got := rows(t, b.srv, ds, "stores"); len(got) != workers*perWorker/2 {
		t.Errorf("stores has %d rows, want %d", len(got), workers*perWorker/2)
	}
}

func TestRoutes(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	bare := newClient(t, strings.TrimSuffix(b.url, "/MicroStrategyLibrary"))
	bare.token = b.c.token
	bare.http.Jar = b.c.http.Jar
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown endpoint", "GET", "/MicroStrategyLibrary/api/reports", 404, "ERR004"},
		{"outside the api", "GET", "/MicroStrategyLibrary/index.html", 404, "ERR004"},
		{"wrong method", "GET", "/api/auth/login", 405, "ERR001"},
		{"models is not a dataset id", "GET", "/api/datasets/models", 405, "ERR001"},
		{"wrong method on a session", "POST", "/api/datasets/" + ds + "/uploadSessions/X", 405, "ERR001"},
		{"publishStatus is GET", "POST", "/api/datasets/" + ds + "/uploadSessions/X/publishStatus", 405, "ERR001"},
		{"stale logout path", "POST", "/api/logout", 404, "ERR004"},
		{"unknown emulator endpoint", "GET", "/emulator/nope", 404, "ERR004"},
		{"emulator wrong method", "DELETE", "/emulator/datasets", 405, "ERR001"},
		{"read back unknown table", "GET", "/emulator/datasets/" + ds + "/tables/nope", 404, "ERR004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, bare.send(tt.method, tt.path, nil, nil), tt.status, tt.code)
		})
	}
	t.Run("405 says what is allowed", func(t *testing.T) {
		resp := bare.send("GET", "/api/datasets/"+ds+"/uploadSessions/X/publish", nil, nil)
		if got := resp.header.Get("Allow"); got != "POST" {
			t.Errorf("Allow = %q, want POST", got)
		}
	})
	t.Run("both base URLs", func(t *testing.T) {
		bare.must(http.StatusOK, "GET", "/api/datasets/"+ds+"?fields=tables", nil)
		bare.must(http.StatusOK, "GET", "/MicroStrategyLibrary/api/datasets/"+ds+"?fields=tables", nil)
	})
}

func TestBodyLimit(t *testing.T) {
	b := setup(t, Options{MaxBodyBytes: 4096})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
	big := fmt.Sprintf(`[[1],["%s"],[1],[1]]`, strings.Repeat("x", 5000))
	wantError(t, b.c.put(ds, sid, "orders", 1, big), http.StatusRequestEntityTooLarge, "ERR006", "4096")
	if got := b.srv.Stats().Calls[CallPut]; got != 1 {
		t.Errorf("Stats().Calls[put] = %d after a refused oversize PUT, want 1 (refused calls count)", got)
	}
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["small"],[1],[1]]`) // a smaller chunk is taken
	// A chunked body without Content-Length is cut off while it streams.
	req, _ := http.NewRequest("PUT", b.url+"/api/datasets/"+ds+"/uploadSessions/"+sid, &slowReader{data: []byte(`{"tableName":"orders","index":2,"data":"` + base64.StdEncoding.EncodeToString([]byte(big)) + `"}`)})
	req.Header.Set("X-MSTR-AuthToken", b.c.token)
	req.Header.Set("X-MSTR-ProjectID", testProject)
	resp, err := b.c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed oversize body: status %d, want 413", resp.StatusCode)
	}
}

func TestLargeRefusedChunkGetsAnAnswer(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
	// The error is in the first value; the client is still sending megabytes behind it.
	big := `[["bad"],[` + strings.Repeat(`"x",`, 1<<18) + `"x"],[1],[1]]`
	wantError(t, b.c.put(ds, sid, "orders", 1, big), http.StatusBadRequest, "ERR006", `column "order_id"`)
	b.srv.FailNth(CallPut, 1, http.StatusServiceUnavailable, "")
	wantError(t, b.c.put(ds, sid, "orders", 1, big), http.StatusServiceUnavailable, "ERR001")
}

// slowReader hides its length so the request is sent chunked.
type slowReader struct{ data []byte }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[:min(len(r.data), 512)])
	r.data = r.data[n:]
	return n, nil
}

func TestEnvelope(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, sink.SessionTable{Name: "orders", UpdatePolicy: sink.Add, Orientation: "Row", ColumnHeaders: []string{"qty", "amount", "store", "order_id"}})
	put := func(body string) {
		t.Helper()
		b.c.must(http.StatusOK, "PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, body)
	}
	data := base64.StdEncoding.EncodeToString([]byte(`[[7, 0.5, "a/b?", 1]]`))
	// data before tableName, escaped slashes as some JSON encoders write them, unknown fields
	put(` { "data" : "` + strings.ReplaceAll(data, "/", `\/`) + `", "extra": {"nested": [1, "x", null]}, "index" : "1" , "tableName":"orders" } `)
	data = base64.StdEncoding.EncodeToString([]byte(`[[8, 1.5, "\u00e9", 2]]`))
	put(`{"tableName":"\u006frders","index":2,"data":"` + data[:10] + `\n` + data[10:] + `"}`)
	b.c.mustPublish(ds, sid)
	want := []string{`[1,"a/b?",0.5,7]`, `[2,"é",1.5,8]`}
	if got := rows(t, b.srv, ds, "orders"); !slices.Equal(got, want) {
		t.Errorf("orders = %v, want %v (columnHeaders order mapped to the dataset's)", got, want)
	}
}

func TestReadBackHTTP(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[0.1],[9007199254740993]]`)
	b.c.mustPublish(ds, sid)
	admin := newClient(t, strings.TrimSuffix(b.url, "/MicroStrategyLibrary"))
	for _, id := range []string{ds, "Sales"} {
		resp := admin.must(http.StatusOK, "GET", "/emulator/datasets/"+id+"/tables/orders", nil)
		want := `{"columns":[{"dataType":"INTEGER","name":"order_id"},{"dataType":"STRING","name":"store"},{"dataType":"DOUBLE","name":"amount"},{"dataType":"BIGINTEGER","name":"qty"}],"rows":[[1,"a",0.1,9007199254740993]]}`
		if got := strings.TrimSpace(string(resp.body)); got != want {
			t.Errorf("read back by %s:\n got %s\nwant %s", id, got, want)
		}
	}
	var list struct{ Datasets []DatasetInfo }
	mustJSON(t, admin.must(http.StatusOK, "GET", "/emulator/datasets", nil), &list)
	if len(list.Datasets) != 1 || list.Datasets[0].ID != ds || list.Datasets[0].Name != "Sales" {
		t.Errorf("GET /emulator/datasets = %+v, want Sales %s", list, ds)
	}
	if _, err := b.srv.Table("nope", "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Table of an unknown dataset: err = %v, want ErrNotFound", err)
	}
}

func TestDiscard(t *testing.T) {
	b := setup(t, Options{Discard: true})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1,2],["a","b"],[1,2],[1,2]]`)
	wantError(t, b.c.put(ds, sid, "orders", 2, `[[1],["a"],["x"],[1]]`), http.StatusBadRequest, "ERR006", `column "amount"`)
	b.c.mustPublish(ds, sid)
	if got := rows(t, b.srv, ds, "orders"); len(got) != 0 {
		t.Errorf("Discard kept rows: %v", got)
	}
	if st := b.srv.Stats(); st.RowsReceived != 2 || st.Chunks != 1 || st.BytesReceived == 0 {
		t.Errorf("Stats = %+v, want 2 rows in 1 chunk and the bytes counted", st)
	}
}

func TestDiscardMemoryBounded(t *testing.T) {
	b := setup(t, Options{Discard: true})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
	_, body := benchChunk(2 << 20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.c.must(http.StatusOK, "PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, body)
	runtime.ReadMemStats(&after)
	// TotalAlloc counts every allocation, freed or not: the whole request, client side
	// included, must allocate a small fraction of the chunk.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("a %d KB chunk in Discard mode allocated %d KB, want under 1 MB", len(body)>>10, alloc>>10)
	}
}

// Two emulators on one DataDir, as a standalone `cubesync emulator --data-dir` beside run-job
// processes whose embedded emulator publishes there: each shows what the other published
// after it started, over HTTP and through the Go API.
func TestDataDirSharedWithOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	viewer, err := New(Options{DataDir: dir}) // started first, on an empty directory
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viewer.Close() })
	viewerURL := newTestServer(t, viewer)
	publisher, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { publisher.Close() })
	pc := newClient(t, newTestServer(t, publisher))
	pc.login("alice", "secret")

	ds := pc.createDataset(salesModel("Sales"))
	sid := pc.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	pc.mustPut(ds, sid, "orders", 1, `[[1,2],["a","b"],[1,2],[10,20]]`)
	pc.mustPublish(ds, sid)

	resp := newClient(t, strings.TrimSuffix(viewerURL, "/MicroStrategyLibrary")).send("GET", "/emulator/datasets", nil, nil)
	if resp.status != 200 || !strings.Contains(string(resp.body), ds) {
		t.Fatalf("GET /emulator/datasets on the viewer after the publisher published: %d %s, want the dataset %s", resp.status, resp.body, ds)
	}
	if got := rows(t, viewer, ds, "orders"); len(got) != 2 {
		t.Errorf("viewer's orders = %v, want the 2 published rows", got)
	}

	// A later publish replaces what the viewer shows.
	sid = pc.openSession(ds, colTable("orders", sink.Upsert, orderHeaders...))
	pc.mustPut(ds, sid, "orders", 1, `[[3],["c"],[3],[30]]`)
	pc.mustPublish(ds, sid)
	if got := rows(t, viewer, ds, "orders"); len(got) != 3 {
		t.Errorf("viewer's orders after a second publish = %v, want 3 rows", got)
	}

	// And the other way round: the publisher sees what the viewer published.
	vc := newClient(t, viewerURL)
	vc.login("alice", "secret")
	sid = vc.openSession(ds, colTable("orders", sink.Upsert, orderHeaders...))
	vc.mustPut(ds, sid, "orders", 1, `[[4],["d"],[4],[40]]`)
	vc.mustPublish(ds, sid)
	if got := rows(t, publisher, ds, "orders"); len(got) != 4 {
		t.Errorf("publisher's orders after the viewer published = %v, want 4 rows", got)
	}
}
