package sink_test

// End-to-end tests of the client against the real emulator (package sink/emulator). They
// live in package sink_test because the emulator imports sink.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

const (
	e2eProject  = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
	e2ePassword = "e2e-Pa55w0rd-secret"
)

// e2eBundle is a running emulator and a logged-in client with a dataset holding orders and stores.
type e2eBundle struct {
	srv     *emulator.Server
	url     string
	c       *sink.Client
	logs    *testutil.SyncBuffer
	dataset string
}

// e2eModel has two tables linked by the store attribute.
var e2eModel = sink.Model{
	Name: "Sales",
	Tables: []sink.ModelTable{
		{Name: "orders", Columns: []sink.Column{{Name: "order_id", DataType: sink.Integer}, {Name: "store", DataType: sink.String}, {Name: "amount", DataType: sink.Double}}},
		{Name: "stores", Columns: []sink.Column{{Name: "store", DataType: sink.String}, {Name: "city", DataType: sink.String}}},
	},
	Attributes: []sink.Attribute{
		{Name: "order_id", Forms: []sink.AttributeForm{{Category: "ID", Expressions: []sink.Expression{{TableName: "orders", ColumnName: "order_id"}}}}},
		{Name: "store", Forms: []sink.AttributeForm{{Category: "ID", Expressions: []sink.Expression{{TableName: "orders", ColumnName: "store"}, {TableName: "stores", ColumnName: "store"}}}}},
		{Name: "city", Forms: []sink.AttributeForm{{Category: "ID", Expressions: []sink.Expression{{TableName: "stores", ColumnName: "city"}}}}},
	},
	Metrics: []sink.Metric{{Name: "amount", Expressions: []sink.Expression{{TableName: "orders", ColumnName: "amount"}}}},
}

var e2eTables = []sink.SessionTable{
	{Name: "orders", UpdatePolicy: sink.Upsert, ColumnHeaders: []string{"order_id", "store", "amount"}},
	{Name: "stores", UpdatePolicy: sink.Replace, ColumnHeaders: []string{"store", "city"}},
}

func setupE2E(t testing.TB, opts emulator.Options, mods ...func(*sink.Config)) *e2eBundle {
	t.Helper()
	opts.Users = map[string]string{"alice": e2ePassword}
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	b := &e2eBundle{srv: srv, url: ts.URL + "/MicroStrategyLibrary/api/", logs: &testutil.SyncBuffer{}}
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("emulator Close: %v", err)
		}
		if strings.Contains(b.logs.String(), e2ePassword) {
			t.Errorf("the password appears in the client's logs:\n%s", b.logs)
		}
	})
	b.c = newE2EClient(t, b.url, b.logs, mods...)
	ctx := context.Background()
	if err := b.c.Login(ctx); err != nil {
		t.Fatalf("Login: %v", err)
	}
	t.Cleanup(func() {
		if err := b.c.Logout(context.Background()); err != nil {
			t.Errorf("Logout: %v", err)
		}
	})
	if b.dataset, err = b.c.CreateDataset(ctx, e2eModel); err != nil {
		t.Fatalf("CreateDataset: %v", err)
	}
	return b
}

func newE2EClient(t testing.TB, url string, logs *testutil.SyncBuffer, mods ...func(*sink.Config)) *sink.Client {
	t.Helper()
	cfg := sink.Config{
		BaseURL:        url,
		ProjectID:      e2eProject,
		Username:       "alice",
		Password:       e2ePassword,
		RequestTimeout: 10 * time.Second,
		CallRetries:    3,
		CallBackoff:    time.Millisecond,
		PublishTimeout: 10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := sink.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// ordersChunk makes orders rows for ids from..to-1: (id, "s<id%3>", "<id>.25").
func ordersChunk(from, to int) *sink.Chunk {
	var ids, stores, amounts []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprint(i))
		stores = append(stores, fmt.Sprintf(`"s%d"`, i%3))
		amounts = append(amounts, fmt.Sprintf("%d.25", i))
	}
	return sink.NewChunk(to-from, [][]byte{
		[]byte(strings.Join(ids, ",")), []byte(strings.Join(stores, ",")), []byte(strings.Join(amounts, ",")),
	}, nil)
}

func ordersRows(from, to int) [][]any {
	var rows [][]any
	for i := from; i < to; i++ {
		rows = append(rows, []any{json.Number(fmt.Sprint(i)), fmt.Sprintf("s%d", i%3), json.Number(fmt.Sprintf("%d.25", i))})
	}
	return rows
}

func storesChunk() *sink.Chunk {
	return sink.NewChunk(3, [][]byte{[]byte(`"s0","s1","s2"`), []byte(`"Berlin","Paris","Rome"`)}, nil)
}

var storesRows = [][]any{{"s0", "Berlin"}, {"s1", "Paris"}, {"s2", "Rome"}}

// push runs one upload session for the tables in chunks the way a runner does: every error
// cancels the session.
func (b *e2eBundle) push(ctx context.Context, chunks map[string][]*sink.Chunk) (err error) {
	var tables []sink.SessionTable
	for _, t := range e2eTables {
		if _, ok := chunks[t.Name]; ok {
			tables = append(tables, t)
		}
	}
	s, err := b.c.OpenSession(ctx, b.dataset, tables)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if cerr := s.Cancel(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	for _, table := range []string{"orders", "stores"} {
		for _, ch := range chunks[table] {
			if err := s.Upload(ctx, table, ch); err != nil {
				return err
			}
		}
	}
	return s.Publish(ctx)
}

func (b *e2eBundle) wantTable(t testing.TB, table string, want [][]any) {
	t.Helper()
	got, err := b.srv.Table(b.dataset, table)
	if err != nil {
		t.Fatalf("emulator Table(%s): %v", table, err)
	}
	if len(got.Rows) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got.Rows, want) {
		t.Errorf("table %s holds\n  %v\nwant\n  %v", table, got.Rows, want)
	}
}

func (b *e2eBundle) wantNoOpenSession(t testing.TB) {
	t.Helper()
	if open := b.srv.OpenSessions(); len(open) != 0 {
		t.Errorf("open upload sessions = %+v, want none", open)
	}
}

func TestE2EPushAndUpdate(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	ctx := context.Background()

	def, err := b.c.Definition(ctx, b.dataset)
	if err != nil {
		t.Fatalf("Definition: %v", err)
	}
	if rep, err := def.Check(e2eModel.Tables); err != nil || len(rep.Warnings) > 0 {
		t.Fatalf("Check of the model the dataset was made from: %v (warnings %q)", err, rep.Warnings)
	}

	err = b.push(ctx, map[string][]*sink.Chunk{
		"orders": {ordersChunk(0, 10), ordersChunk(10, 25)},
		"stores": {storesChunk()},
	})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	b.wantTable(t, "orders", ordersRows(0, 25))
	b.wantTable(t, "stores", storesRows)
	b.wantNoOpenSession(t)

	// Upsert: ids 20..29 with changed amounts overwrite 20..24 and add 25..29.
	changed := sink.NewChunk(10, [][]byte{
		[]byte("20,21,22,23,24,25,26,27,28,29"),
		[]byte(`"s2","s0","s1","s2","s0","s1","s2","s0","s1","s2"`),
		[]byte("1,1,1,1,1,1,1,1,1,1"),
	}, nil)
	if err := b.push(ctx, map[string][]*sink.Chunk{"orders": {changed}}); err != nil {
		t.Fatalf("second push: %v", err)
	}
	want := ordersRows(0, 30)
	for i := 20; i < 30; i++ {
		want[i][2] = json.Number("1")
	}
	b.wantTable(t, "orders", want)
	b.wantTable(t, "stores", storesRows) // not in the second session: untouched
}

func TestE2EDefinitionMismatch(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	def, err := b.c.Definition(context.Background(), b.dataset)
	if err != nil {
		t.Fatalf("Definition: %v", err)
	}
	job := []sink.ModelTable{
		{Name: "orders", Columns: []sink.Column{{Name: "order_id", DataType: sink.Integer}, {Name: "amount", DataType: sink.String}, {Name: "qty", DataType: sink.Integer}}},
		{Name: "returns", Columns: []sink.Column{{Name: "order_id", DataType: sink.Integer}}},
	}
	_, err = def.Check(job)
	var m *sink.MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("Check = %v, want a *MismatchError", err)
	}
	for _, want := range []string{
		`column "amount" of table "orders" is a decimal number (data type 6 precision 8) in the dataset but the push sends STRING, which cannot load into it`,
		`table "orders" has no column "qty"`,
		`table "returns" is missing (the dataset has "orders", "stores")`,
		"push to a new dataset",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error\n  %v\ndoes not say\n  %s", err, want)
		}
	}
	if !sink.Permanent(err) {
		t.Error("a definition mismatch is not Permanent; a whole-run retry cannot fix it")
	}

	_, err = b.c.Definition(context.Background(), "0123456789ABCDEF0123456789ABCDEF")
	if !sink.IsNotFound(err) || !strings.Contains(err.Error(), "404 ERR004") || !strings.Contains(err.Error(), "does not exist (any more)") {
		t.Errorf("Definition of an unknown dataset = %v, want a 404 saying the dataset does not exist", err)
	}
}

func TestE2ERetriedServerErrorsKeepDataComplete(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	b.srv.FailNth(emulator.CallPut, 2, http.StatusInternalServerError, "")
	b.srv.FailNth(emulator.CallPut, 3, http.StatusBadGateway, "<html>bad gateway</html>")
	b.srv.FailNth(emulator.CallOpenSession, 1, http.StatusServiceUnavailable, "")
	b.srv.FailNth(emulator.CallPublishStatus, 1, http.StatusTooManyRequests, "")
	err := b.push(context.Background(), map[string][]*sink.Chunk{
		"orders": {ordersChunk(0, 5), ordersChunk(5, 10), ordersChunk(10, 15)},
		"stores": {storesChunk()},
	})
	if err != nil {
		t.Fatalf("push with transient failures: %v", err)
	}
	if got := b.srv.Stats().Faults; got != 4 {
		t.Errorf("faults fired = %d, want 4", got)
	}
	b.wantTable(t, "orders", ordersRows(0, 15))
	b.wantTable(t, "stores", storesRows)
	b.wantNoOpenSession(t)
}

func TestE2EPersistentFailureCancelsSession(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	ctx := context.Background()
	if err := b.push(ctx, map[string][]*sink.Chunk{"orders": {ordersChunk(0, 5)}, "stores": {storesChunk()}}); err != nil {
		t.Fatalf("first push: %v", err)
	}
	// The second chunk of the next push fails on every attempt (1 + CallRetries).
	for range 4 {
		b.srv.FailNth(emulator.CallPut, 2, http.StatusServiceUnavailable, "")
	}
	err := b.push(ctx, map[string][]*sink.Chunk{"orders": {ordersChunk(100, 105), ordersChunk(105, 110)}, "stores": {storesChunk()}})
	var e *sink.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Attempts != 4 {
		t.Fatalf("push error = %v, want a 503 after 4 attempts", err)
	}
	if !strings.HasPrefix(err.Error(), `upload table "orders" chunk 2: 503 `) {
		t.Errorf("error %q does not start with the table and chunk", err)
	}
	if !sink.Temporary(err) || sink.Permanent(err) {
		t.Errorf("Temporary, Permanent = %v, %v for a 503; want true, false", sink.Temporary(err), sink.Permanent(err))
	}
	b.wantNoOpenSession(t)
	b.wantTable(t, "orders", ordersRows(0, 5)) // the first chunk of the failed push was not applied
	b.wantTable(t, "stores", storesRows)

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := b.c.OpenSession(ctx, b.dataset, e2eTables)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Upload(ctx, "orders", ordersChunk(200, 210)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := s.Upload(ctx, "orders", ordersChunk(210, 220)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Upload after cancel = %v, want context.Canceled", err)
		}
		if err := s.Cancel(); err != nil {
			t.Fatalf("Cancel after the run's context ended: %v", err)
		}
		b.wantNoOpenSession(t)
		b.wantTable(t, "orders", ordersRows(0, 5))
	})
}

func TestE2EExpiredSessionIsRenewed(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	ctx := context.Background()
	s, err := b.c.OpenSession(ctx, b.dataset, e2eTables)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Upload(ctx, "orders", ordersChunk(0, 10)); err != nil {
		t.Fatal(err)
	}
	b.srv.ExpireSessions()
	if err := s.Upload(ctx, "orders", ordersChunk(10, 20)); err != nil {
		t.Fatalf("Upload after the login session expired: %v", err)
	}
	b.srv.ExpireSessions()
	if err := s.Publish(ctx); err != nil {
		t.Fatalf("Publish after the login session expired: %v", err)
	}
	if got := b.srv.Stats().Calls[emulator.CallLogin]; got != 3 {
		t.Errorf("logins = %d, want 3 (one renewal per expiry)", got)
	}
	b.wantTable(t, "orders", ordersRows(0, 20))
}

func TestE2EPublish(t *testing.T) {
	t.Run("error status fails", func(t *testing.T) {
		b := setupE2E(t, emulator.Options{})
		b.srv.FailPublish(3, "Data source connection error")
		err := b.push(context.Background(), map[string][]*sink.Chunk{"orders": {ordersChunk(0, 5)}})
		var pe *sink.PublishError
		if !errors.As(err, &pe) || pe.Status != 3 || !strings.Contains(err.Error(), "Data source connection error") {
			t.Fatalf("push error = %v, want a *PublishError with status 3 and the server's message", err)
		}
		b.wantNoOpenSession(t)
		b.wantTable(t, "orders", nil)
	})
	t.Run("slow publish is waited for", func(t *testing.T) {
		b := setupE2E(t, emulator.Options{PublishDelay: 400 * time.Millisecond})
		if err := b.push(context.Background(), map[string][]*sink.Chunk{"orders": {ordersChunk(0, 5)}}); err != nil {
			t.Fatalf("push: %v", err)
		}
		if polls := b.srv.Stats().Calls[emulator.CallPublishStatus]; polls < 2 || polls > 5 {
			t.Errorf("publishStatus polled %d times for a 400ms publish, want 2 to 5", polls)
		}
		b.wantTable(t, "orders", ordersRows(0, 5))
	})
	t.Run("too slow publish times out", func(t *testing.T) {
		b := setupE2E(t, emulator.Options{PublishDelay: 5 * time.Second}, func(c *sink.Config) { c.PublishTimeout = 300 * time.Millisecond })
		err := b.push(context.Background(), map[string][]*sink.Chunk{"orders": {ordersChunk(0, 5)}})
		if !errors.Is(err, sink.ErrPublishTimeout) {
			t.Fatalf("push error = %v, want ErrPublishTimeout", err)
		}
		b.wantTable(t, "orders", nil)
	})
}

func TestE2ETooLargeChunksAreSplit(t *testing.T) {
	b := setupE2E(t, emulator.Options{MaxBodyBytes: 1200})
	big := ordersChunk(0, 200) // about 3.3 KB of JSON, 4.4 KB of base64
	if err := b.push(context.Background(), map[string][]*sink.Chunk{"orders": {big, ordersChunk(200, 210)}}); err != nil {
		t.Fatalf("push of a chunk above the server's limit: %v", err)
	}
	b.wantTable(t, "orders", ordersRows(0, 210))
	st := b.srv.Stats()
	if st.Chunks < 5 || st.Calls[emulator.CallPut] <= st.Chunks {
		t.Errorf("chunks accepted = %d of %d PUTs, want the big chunk refused and split into at least 4", st.Chunks, st.Calls[emulator.CallPut])
	}
}

func TestE2ECrashRecovery(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	ctx := context.Background()
	dead, err := b.c.OpenSession(ctx, b.dataset, e2eTables)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Upload(ctx, "orders", ordersChunk(0, 5)); err != nil {
		t.Fatal(err)
	}
	// The run dies here. The next one, with its own client, cannot open a session ...
	next := newE2EClient(t, b.url, b.logs)
	if err := next.Login(ctx); err != nil {
		t.Fatal(err)
	}
	defer next.Logout(ctx)
	_, err = next.OpenSession(ctx, b.dataset, e2eTables)
	if err == nil || !strings.Contains(err.Error(), "cancel it first") {
		t.Fatalf("OpenSession while another is open = %v, want an error saying to cancel the open one", err)
	}
	// ... until it cancels the one the dead run recorded.
	if err := next.CancelSession(ctx, b.dataset, dead.ID()); err != nil {
		t.Fatalf("CancelSession: %v", err)
	}
	if err := next.CancelSession(ctx, b.dataset, dead.ID()); err != nil {
		t.Errorf("second CancelSession = %v, want nil for a session already gone", err)
	}
	s, err := next.OpenSession(ctx, b.dataset, e2eTables)
	if err != nil {
		t.Fatalf("OpenSession after recovery: %v", err)
	}
	if err := s.Cancel(); err != nil {
		t.Fatal(err)
	}
	b.wantTable(t, "orders", nil)
}

func TestE2ELoginModesAndSecrets(t *testing.T) {
	b := setupE2E(t, emulator.Options{})
	ctx := context.Background()

	wrong := newE2EClient(t, b.url, b.logs, func(c *sink.Config) { c.Password = e2ePassword + "-wrong" })
	err := wrong.Login(ctx)
	if err == nil || !strings.Contains(err.Error(), "401 ERR003") {
		t.Fatalf("Login with a wrong password = %v, want 401 ERR003", err)
	}
	if strings.Contains(err.Error(), e2ePassword) {
		t.Errorf("login error %q shows the password", err)
	}

	token := "api-token-0123456789abcdef"
	api := newE2EClient(t, b.url, b.logs, func(c *sink.Config) {
		c.LoginMode, c.Username, c.Password = "api_token", "", token
	})
	if err := api.Login(ctx); err != nil {
		t.Fatalf("Login with an API token: %v", err)
	}
	if _, err := api.Definition(ctx, b.dataset); err != nil {
		t.Errorf("Definition with an API token login: %v", err)
	}
	if err := api.Logout(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
	if strings.Contains(b.logs.String(), token) {
		t.Errorf("the API token appears in the logs")
	}
}

// BenchmarkPushEmulator measures a whole upload (client streaming, emulator decoding and
// validating every value, rows discarded) of an orders chunk of 100k rows.
func BenchmarkPushEmulator(b *testing.B) {
	bb := setupE2E(b, emulator.Options{Discard: true})
	ctx := context.Background()
	s, err := bb.c.OpenSession(ctx, bb.dataset, e2eTables[:1])
	if err != nil {
		b.Fatal(err)
	}
	ch := ordersChunk(0, 100_000)
	b.SetBytes(ch.Len())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Upload(ctx, "orders", ch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := s.Cancel(); err != nil {
		b.Fatal(err)
	}
}

// TestE2EDialects pushes twice into a dataset through emulators that answer as other
// servers may: each push must publish exactly what was sent, whatever the dialect.
func TestE2EDialects(t *testing.T) {
	dialects := []struct {
		name      string
		opts      emulator.Options
		wantPolls int64 // publishStatus calls per publish
	}{
		{"default", emulator.Options{}, 1},
		{"in-progress statuses 4, 8, 9, 10", emulator.Options{PublishStatuses: []int{4, 8, 9, 10}}, 5},
		{"status as a string", emulator.Options{StatusAsString: true, PublishStatuses: []int{6}}, 2},
		{"four-digit error codes", emulator.Options{ErrorCodeDigits: 4}, 1},
		{"big integers coded as integers", emulator.Options{BigIntegerAsInteger: true}, 1},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			b := setupE2E(t, d.opts)
			ctx := context.Background()
			for i := range 2 {
				def, err := b.c.Definition(ctx, b.dataset)
				if err != nil {
					t.Fatalf("Definition: %v", err)
				}
				if rep, err := def.Check(e2eModel.Tables); err != nil || len(rep.Warnings) > 0 {
					t.Fatalf("Check: %v (warnings %q)", err, rep.Warnings)
				}
				before := b.srv.Stats().Calls[emulator.CallPublishStatus]
				// An expired login is renewed whatever the spelling of ERR009.
				b.srv.ExpireSessions()
				if err := b.push(ctx, map[string][]*sink.Chunk{"orders": {ordersChunk(0, 10+i)}, "stores": {storesChunk()}}); err != nil {
					t.Fatalf("push %d: %v", i+1, err)
				}
				if got := b.srv.Stats().Calls[emulator.CallPublishStatus] - before; got != d.wantPolls {
					t.Errorf("push %d polled publishStatus %d times, want %d", i+1, got, d.wantPolls)
				}
				b.wantTable(t, "orders", ordersRows(0, 10+i))
				b.wantNoOpenSession(t)
			}
			wrong := newE2EClient(t, b.url, b.logs, func(c *sink.Config) { c.Password = "wrong-password" })
			if err := wrong.Login(ctx); !sink.IsLoginRefused(err) {
				t.Errorf("Login with a wrong password = %v, want an error IsLoginRefused recognises", err)
			}
		})
	}
}
