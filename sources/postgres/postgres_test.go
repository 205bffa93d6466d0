package postgres_test

// Tests of the Postgres source on a test database (internal/pgtest): one cohesive thing,
// every supported type, exact numerics, time zones, batching, the watermark parameter, and
// each kind of error (types, connection, query, timeout, dropped connection, cancel).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/sources"
	"github.com/cubesync/cubesync/sources/postgres"
)

func TestMain(m *testing.M) { pgtest.Run(m) }

// setup returns a fresh database's DSN after running the given statements in it.
func setup(t testing.TB, statements ...string) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(context.Background())
	for _, s := range statements {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	return dsn
}

// readAll reads every batch of query, checks each against the schema and the batch limit,
// and returns them; the caller releases them.
func readAll(t *testing.T, mem memory.Allocator, dsn, query string, args []any, batchRows int) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	r, err := postgres.Open(t.Context(), dsn, query, args, postgres.Options{Allocator: mem, BatchRows: batchRows})
	if err != nil {
		t.Fatalf("Open(%q): %v", query, err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var batches []arrow.RecordBatch
	for {
		rec, err := r.Next(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			for _, b := range batches {
				b.Release()
			}
			t.Fatalf("Next after %d batches of %q: %v", len(batches), query, err)
		}
		if !rec.Schema().Equal(r.Schema()) {
			t.Errorf("batch schema %v differs from Schema() %v", rec.Schema(), r.Schema())
		}
		batches = append(batches, rec)
	}
	if _, err := r.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after io.EOF = %v, want io.EOF again", err)
	}
	return r.Schema(), batches
}

func release(batches []arrow.RecordBatch) {
	for _, b := range batches {
		b.Release()
	}
}

func TestEverySupportedType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	tests := []struct {
		typ, literal string
		want         arrow.DataType
		wantStr      string // the Arrow value as ValueStr prints it
	}{
		{"smallint", "-32768", arrow.PrimitiveTypes.Int32, "-32768"},
		{"integer", "2147483647", arrow.PrimitiveTypes.Int32, "2147483647"},
		{"bigint", "-9223372036854775808", arrow.PrimitiveTypes.Int64, "-9223372036854775808"},
		{"real", "0.1", arrow.PrimitiveTypes.Float32, "0.1"},
		{"double precision", "-1.5e-300", arrow.PrimitiveTypes.Float64, "-1.5e-300"},
		{"double precision", "'Infinity'", arrow.PrimitiveTypes.Float64, "+Inf"},
		{"boolean", "true", arrow.FixedWidthTypes.Boolean, "true"},
		{"numeric(30,9)", "12345678901234567890.123456789", &arrow.Decimal128Type{Precision: 30, Scale: 9}, "12345678901234567890.123456789"},
		{"numeric(10,2)", "-0.05", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "-0.05"},
		{"numeric(38,0)", strings.Repeat("9", 38), &arrow.Decimal128Type{Precision: 38, Scale: 0}, strings.Repeat("9", 38)},
		{"numeric(60,20)", "-" + strings.Repeat("8", 40) + "." + strings.Repeat("7", 20), &arrow.Decimal256Type{Precision: 60, Scale: 20}, "-" + strings.Repeat("8", 40) + "." + strings.Repeat("7", 20)},
		{"numeric(5,-2)", "1234567", &arrow.Decimal128Type{Precision: 7, Scale: 0}, "1234600"},
		{"numeric(3,5)", "0.00123", &arrow.Decimal128Type{Precision: 5, Scale: 5}, "0.00123"},
		{"text", "'héllo, wörld'", arrow.BinaryTypes.String, "héllo, wörld"},
		{"varchar(10)", "'abc'", arrow.BinaryTypes.String, "abc"},
		{"char(4)", "'ab'", arrow.BinaryTypes.String, "ab  "},
		{`"char"`, "'x'", arrow.BinaryTypes.String, "x"},
		{"name", "'pg_class'", arrow.BinaryTypes.String, "pg_class"},
		{"uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", arrow.BinaryTypes.String, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"json", `'{"a": [1, 2]}'`, arrow.BinaryTypes.String, `{"a": [1, 2]}`},
		{"jsonb", `'{"b":1, "a":"x"}'`, arrow.BinaryTypes.String, `{"a": "x", "b": 1}`},
		{"xml", "'<a>1</a>'", arrow.BinaryTypes.String, "<a>1</a>"},
		{"mood", "'happy'", arrow.BinaryTypes.String, "happy"},
		{"citext", "'MiXeD'", arrow.BinaryTypes.String, "MiXeD"},
		{"positive_int", "42", arrow.PrimitiveTypes.Int32, "42"},
		{"date", "'2024-01-31'", arrow.FixedWidthTypes.Date32, "2024-01-31"},
		{"date", "'1900-03-01'", arrow.FixedWidthTypes.Date32, "1900-03-01"},
		{"time", "'13:45:00.123456'", arrow.FixedWidthTypes.Time64us, "13:45:00.123456"},
		{"timestamp", "'2024-01-31 13:45:00.123456'", &arrow.TimestampType{Unit: arrow.Microsecond}, "2024-01-31T13:45:00.123456"},
		{"timestamp", "'1969-12-31 23:59:59.999999'", &arrow.TimestampType{Unit: arrow.Microsecond}, "1969-12-31T23:59:59.999999"},
		{"timestamptz", "'2024-01-31 13:45:00.5+02'", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "2024-01-31T11:45:00.5Z"},
	}

	statements := []string{
		"CREATE TYPE mood AS ENUM ('sad', 'happy')",
		"CREATE EXTENSION citext",
		"CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0)",
	}
	for i, tt := range tests {
		statements = append(statements,
			fmt.Sprintf("CREATE TABLE t%d (i int, v %s)", i, tt.typ),
			fmt.Sprintf("INSERT INTO t%d VALUES (1, %s), (2, NULL)", i, tt.literal))
	}
	dsn := setup(t, statements...)

	for i, tt := range tests {
		t.Run(tt.typ+" "+tt.literal, func(t *testing.T) {
			schema, batches := readAll(t, mem, dsn, fmt.Sprintf("SELECT v FROM t%d ORDER BY i", i), nil, 0)
			defer release(batches)
			if got := schema.Field(0).Type; !arrow.TypeEqual(got, tt.want) {
				t.Errorf("%s column: Arrow type %v, want %v", tt.typ, got, tt.want)
			}
			if len(batches) != 1 || batches[0].NumRows() != 2 {
				t.Fatalf("%s: got %d batches, want one of 2 rows", tt.typ, len(batches))
			}
			col := batches[0].Column(0)
			if got := col.ValueStr(0); got != tt.wantStr {
				t.Errorf("%s %s read as %q, want %q", tt.typ, tt.literal, got, tt.wantStr)
			}
			if !col.IsNull(1) {
				t.Errorf("%s NULL read as %q, want null", tt.typ, col.ValueStr(1))
			}
		})
	}
}

func TestNumericIsExact(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	values := []string{
		"0", "1", "-1", "0.000000001", "-0.000000001", "12345678901234567890.123456789",
		"99999999999999999999999999999.999999999", "-99999999999999999999999999999.999999999",
		"10000", "10000.0001", "0.1", "1.5", "18446744073709551616", "18446744073709551615.999999999",
	}
	var rows []string
	for i, v := range values {
		rows = append(rows, fmt.Sprintf("(%d, %s)", i, v))
	}
	dsn := setup(t,
		"CREATE TABLE n (i int, d numeric(38,9), w numeric(76,30))",
		"INSERT INTO n (i, d) VALUES "+strings.Join(rows, ", "),
		"UPDATE n SET w = d * 1000000000000000::numeric + d / 1000000000000000000000::numeric")

	schema, batches := readAll(t, mem, dsn, "SELECT d::text AS want_d, d, w::text AS want_w, w FROM n ORDER BY i", nil, 5)
	defer release(batches)
	if got := schema.Field(3).Type; !arrow.TypeEqual(got, &arrow.Decimal256Type{Precision: 76, Scale: 30}) {
		t.Errorf("numeric(76,30) became %v, want decimal256(76, 30)", got)
	}
	n := 0
	for _, b := range batches {
		for row := range int(b.NumRows()) {
			for _, pair := range [][2]int{{0, 1}, {2, 3}} {
				want := b.Column(pair[0]).ValueStr(row)
				got := decimalText(b.Column(pair[1]), row)
				if got != want {
					t.Errorf("value %s: %s read as %s, want Postgres's %s", values[n], schema.Field(pair[1]).Name, got, want)
				}
			}
			n++
		}
	}
	if n != len(values) {
		t.Errorf("read %d rows, want %d", n, len(values))
	}
}

// decimalText prints a decimal value with all digits of its scale, as Postgres does.
func decimalText(col arrow.Array, row int) string {
	switch col := col.(type) {
	case *array.Decimal128:
		return col.Value(row).ToString(col.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return col.Value(row).ToString(col.DataType().(*arrow.Decimal256Type).Scale)
	}
	return fmt.Sprintf("not a decimal: %s", col.DataType())
}

func TestTimestamptzIsTheUTCInstantWhateverTheSessionTimeZone(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	dsn := setup(t)
	dsn += " timezone=Asia/Kolkata"
	if strings.Contains(dsn, "://") {
		dsn = strings.TrimSuffix(dsn, " timezone=Asia/Kolkata")
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "timezone=Asia%2FKolkata"
	}

	_, batches := readAll(t, mem, dsn,
		"SELECT current_setting('TimeZone') AS zone, '2024-06-01 12:00:00'::timestamptz AS ts, '2024-06-01 12:00:00'::timestamp AS local", nil, 0)
	defer release(batches)
	b := batches[0]
	if zone := b.Column(0).ValueStr(0); zone != "Asia/Kolkata" {
		t.Fatalf("session TimeZone is %q; the test needs a non-UTC zone", zone)
	}
	got := b.Column(1).(*array.Timestamp).Value(0).ToTime(arrow.Microsecond)
	if want := time.Date(2024, 6, 1, 6, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("timestamptz 12:00 in Asia/Kolkata read as %v, want the instant %v", got, want)
	}
	local := b.Column(2).(*array.Timestamp).Value(0).ToTime(arrow.Microsecond)
	if want := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC); !local.Equal(want) {
		t.Errorf("timestamp 12:00 read as %v, want the wall clock %v unchanged", local, want)
	}
}

func TestBatchesAreBoundedAndComplete(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)

	const total, batchRows = 10000, 3000
	_, batches := readAll(t, mem, dsn,
		fmt.Sprintf("SELECT g AS id, 'row ' || g AS label FROM generate_series(1, %d) g", total), nil, batchRows)
	defer release(batches)

	next := int32(1)
	for i, b := range batches {
		if b.NumRows() > batchRows || b.NumRows() == 0 {
			t.Errorf("batch %d has %d rows, want 1 to %d", i, b.NumRows(), batchRows)
		}
		ids := b.Column(0).(*array.Int32)
		labels := b.Column(1).(*array.String)
		for row := range ids.Len() {
			if ids.Value(row) != next || labels.Value(row) != fmt.Sprintf("row %d", next) {
				t.Fatalf("batch %d row %d = (%d, %q), want (%d, %q)", i, row, ids.Value(row), labels.Value(row), next, fmt.Sprintf("row %d", next))
			}
			next++
		}
	}
	if got := next - 1; got != total {
		t.Errorf("read %d rows in %d batches, want %d", got, len(batches), total)
	}
	if want := (total + batchRows - 1) / batchRows; len(batches) != want {
		t.Errorf("got %d batches, want %d", len(batches), want)
	}
}

func TestEmptyResultGivesSchemaThenEOF(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)

	schema, batches := readAll(t, mem, dsn, "SELECT 1::bigint AS id WHERE false", nil, 0)
	defer release(batches)
	if len(batches) != 0 {
		t.Errorf("an empty result gave %d batches, want none", len(batches))
	}
	if schema.NumFields() != 1 || schema.Field(0).Name != "id" {
		t.Errorf("schema of an empty result = %v, want one field id", schema)
	}
}

func TestWatermarkIsBoundAsFirstParameter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t,
		"CREATE TABLE orders (id int, updated_at timestamptz)",
		`INSERT INTO orders VALUES (1, '2024-01-01 00:00:00.000001Z'), (2, '2024-01-02 00:00:00Z'),
			(3, '2024-01-02 00:00:00.000001Z'), (4, '2024-01-03 00:00:00Z')`)

	watermark := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	_, batches := readAll(t, mem, dsn, "SELECT id, updated_at FROM orders WHERE updated_at > $1 ORDER BY id", []any{watermark}, 0)
	defer release(batches)
	var got []int32
	for _, b := range batches {
		got = append(got, b.Column(0).(*array.Int32).Int32Values()...)
	}
	if fmt.Sprint(got) != "[3 4]" {
		t.Errorf("rows after watermark %v: ids %v, want [3 4] (microseconds count)", watermark, got)
	}

	t.Run("missing argument", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), dsn, "SELECT id FROM orders WHERE updated_at > $1", nil, postgres.Options{Allocator: mem})
		if err == nil || !strings.Contains(err.Error(), "1 parameters") {
			t.Errorf("Open with $1 and no argument: err = %v, want one saying the query has 1 parameters", err)
		}
	})
}

func TestUnsupportedTypesNameColumnTypeAndCast(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t, "CREATE TYPE pair AS (a int, b int)")

	tests := []struct {
		query, column, typ, cast string
	}{
		{"SELECT 1 AS id, interval '1 day' AS d", "d", "interval", "d::text"},
		{"SELECT ARRAY[1,2] AS ids", "ids", "integer[]", "ids::text"},
		{"SELECT '\\x00'::bytea AS blob", "blob", "bytea", "blob::text"},
		{"SELECT 1.5 AS amount", "amount", "numeric without precision and scale", "amount::numeric(38,9)"},
		{"SELECT now()::timetz AS \"Clock\"", "Clock", "time with time zone", `"Clock"::time`},
		{"SELECT ROW(1,2)::pair AS p", "p", "pair", "p::text"},
		{"SELECT 1::numeric(100,2) AS big", "big", "numeric(100,2)", "big::numeric(76,2)"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			r, err := postgres.Open(t.Context(), dsn, tt.query, nil, postgres.Options{Allocator: mem})
			if err == nil {
				r.Close()
				t.Fatalf("Open(%q) succeeded, want an unsupported type error", tt.query)
			}
			var ute *postgres.UnsupportedTypeError
			if !errors.As(err, &ute) {
				t.Fatalf("Open(%q) = %v, want an *UnsupportedTypeError", tt.query, err)
			}
			if ute.Column != tt.column || ute.Type != tt.typ || !strings.HasPrefix(ute.Cast, tt.cast) {
				t.Errorf("Open(%q): column %q type %q cast %q, want %q %q %q...", tt.query, ute.Column, ute.Type, ute.Cast, tt.column, tt.typ, tt.cast)
			}
			if !strings.Contains(err.Error(), "cast it in the query: "+tt.cast) {
				t.Errorf("error %q does not say to cast it: %s", err, tt.cast)
			}
		})
	}

	t.Run("unnamed and duplicate columns", func(t *testing.T) {
		for query, want := range map[string]string{
			"SELECT 1 + 1":           "give the expression one with AS",
			"SELECT 1 AS a, 2 AS a":  `"a" appears more than once`,
			"CREATE TABLE x (i int)": "returns no columns",
		} {
			r, err := postgres.Open(t.Context(), dsn, query, nil, postgres.Options{Allocator: mem})
			if err == nil {
				r.Close()
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%q) = %v, want an error saying %q", query, err, want)
			}
		}
	})
}

func TestValuesAnArrowColumnCannotHoldFailTheRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)

	tests := []struct{ query, want string }{
		{"SELECT d FROM (VALUES (1, '2024-01-01'::date), (2, 'infinity')) v(i, d) ORDER BY i", `row 2 column "d": is infinity`},
		{"SELECT '-infinity'::timestamptz AS ts", `row 1 column "ts": is infinity`},
		{"SELECT 'NaN'::numeric(10,2) AS n", `row 1 column "n": is NaN`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			r, err := postgres.Open(t.Context(), dsn, tt.query, nil, postgres.Options{Allocator: mem})
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.query, err)
			}
			defer r.Close()
			rec, err := r.Next(t.Context())
			if err == nil {
				rec.Release()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Next on %q = %v, want an error containing %q", tt.query, err, tt.want)
			}
			if _, again := r.Next(t.Context()); again == nil || errors.Is(again, io.EOF) {
				t.Errorf("Next after the error = %v, want the error again", again)
			}
		})
	}
}

func TestConnectionErrorsAreClearAndKeepThePasswordSecret(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "hunter2-secret"

	tests := []struct{ name, dsn, want string }{
		{"url with a bad port", "postgres://u:" + secret + "@localhost:notaport/db", "invalid postgres DSN"},
		{"keyword value with a bad sslmode", "host=localhost password=" + secret + " sslmode=sometimes", "invalid postgres DSN"},
		{"connection refused", "postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=5", "check that the server runs"},
		{"wrong password", fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, secret, cfg.Database), "check the user and password"},
		{"missing database", fmt.Sprintf("host=%s port=%d user=%s password='%s' dbname=no_such_db sslmode=disable", cfg.Host, cfg.Port, cfg.User, cfg.Password), "check the database name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "wrong password" && !pgtest.ChecksPasswords(t) {
				t.Skipf("the server in %s may accept any password; pgtest's own servers (CI's) check them", pgtest.EnvDatabaseURL)
			}
			r, err := postgres.Open(t.Context(), tt.dsn, "SELECT 1 AS one", nil, postgres.Options{Allocator: mem})
			if err == nil {
				r.Close()
				t.Fatalf("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) || (cfg.Password != "" && strings.Contains(err.Error(), cfg.Password)) {
				t.Errorf("Open error contains the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestQueryErrorsCarryThePostgresMessage(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)

	tests := []struct {
		name, query, code string
		wants             []string
	}{
		{"syntax error", "SELECT 1 AS a\n  FORM nowhere", "42601", []string{`syntax error at or near "FORM"`, "line 2, column 3"}},
		{"missing table", "SELECT id FROM no_such_table", "42P01", []string{`relation "no_such_table" does not exist`, "line 1, column 16"}},
		{"error while running", "SELECT 1 / (g - 3) AS x FROM generate_series(1, 5) g", "22012", []string{"division by zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openAndDrain(t, mem, dsn, tt.query)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != tt.code {
				t.Fatalf("query %q: err = %v, want a Postgres error with SQLSTATE %s", tt.query, err, tt.code)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("query %q: error %q does not contain %q", tt.query, err, want)
				}
			}
		})
	}
}

// openAndDrain opens query and reads it to the end, returning the first error.
func openAndDrain(t *testing.T, mem memory.Allocator, dsn, query string) error {
	t.Helper()
	r, err := postgres.Open(t.Context(), dsn, query, nil, postgres.Options{Allocator: mem, BatchRows: 1000})
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		rec, err := r.Next(t.Context())
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		rec.Release()
	}
}

func TestStatementTimeoutSaysWhatHappened(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t, "ALTER DATABASE "+pgx.Identifier{databaseOf(t, pgtest.DSN(t))}.Sanitize()+" SET lock_timeout = 0")
	dsn = withParam(dsn, "statement_timeout", "200")

	err := openAndDrain(t, mem, dsn, "SELECT 1 AS one FROM pg_sleep(5)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("a query past statement_timeout: err = %v, want SQLSTATE 57014", err)
	}
	if !strings.Contains(err.Error(), "statement_timeout") {
		t.Errorf("error %q does not mention statement_timeout", err)
	}
}

func databaseOf(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// withParam adds a run-time parameter to a URL or keyword/value DSN.
func withParam(dsn, key, value string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + key + "=" + value
	}
	return dsn + " " + key + "=" + value
}

func TestDroppedConnectionMidReadIsAnErrorNotEOF(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)

	const total = 5_000_000
	r, err := postgres.Open(t.Context(), dsn,
		fmt.Sprintf("SELECT pg_backend_pid() AS pid, g FROM generate_series(1, %d) a, generate_series(1, 1000) g", total/1000), nil,
		postgres.Options{Allocator: mem, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Next(t.Context())
	if err != nil {
		t.Fatalf("first batch: %v", err)
	}
	pid := rec.Column(0).(*array.Int32).Value(0)
	read := rec.NumRows()
	rec.Release()

	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var terminated bool
	if err := admin.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, terminated, err)
	}

	for {
		rec, err := r.Next(t.Context())
		if errors.Is(err, io.EOF) {
			t.Fatalf("Next returned io.EOF after %d of %d rows although the connection was terminated", read, total)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "server ended the connection") && !strings.Contains(err.Error(), "connection lost") {
				t.Errorf("Next after the backend was terminated = %v, want it to say the connection ended", err)
			}
			break
		}
		read += rec.NumRows()
		rec.Release()
	}
	if read >= total {
		t.Errorf("read all %d rows although the connection was terminated", read)
	}
}

func TestCancelAndCloseMidReadAreQuick(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t)
	// A nested loop streams; one generate_series of 100M rows would be materialised first.
	const query = "SELECT g FROM generate_series(1, 1000) a, generate_series(1, 100000) g"

	t.Run("cancelled context", func(t *testing.T) {
		r, err := postgres.Open(t.Context(), dsn, query, nil, postgres.Options{Allocator: mem, BatchRows: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next with a cancelled context = %v, want context.Canceled", err)
		}
	})

	t.Run("context cancelled while waiting for rows", func(t *testing.T) {
		r, err := postgres.Open(t.Context(), dsn, "SELECT 1 AS one FROM pg_sleep(30)", nil, postgres.Options{Allocator: mem})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		rec, err := r.Next(ctx)
		if err == nil {
			rec.Release()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next past its deadline = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Next took %v to notice its deadline of 200ms", d)
		}
		if _, err := r.Next(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next after an interrupted read = %v, want the same error again", err)
		}
	})

	t.Run("close after the first batch", func(t *testing.T) {
		r, err := postgres.Open(t.Context(), dsn, query, nil, postgres.Options{Allocator: mem, BatchRows: 100})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rec.Release()
		start := time.Now()
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close mid-read of 100M rows took %v, want it not to read the rest", d)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// Rows are counted as they are decoded: while a slow query yields rows one by one (each
// large enough to leave the server's send buffer at once), the counter moves long before
// the batch they belong to is complete.
func TestCounterMovesWhileABatchIsStillFilling(t *testing.T) {
	dsn := setup(t)
	var c sources.Counter
	const rows = 30
	query := fmt.Sprintf("SELECT g, repeat('x', 9000) AS pad FROM generate_series(1, %d) g CROSS JOIN LATERAL pg_sleep(0.05 + 0 * g)", rows)
	r, err := postgres.Open(t.Context(), dsn, query, nil, postgres.Options{Counter: &c})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		rec, err := r.Next(t.Context()) // one batch: every row of the query
		if err == nil {
			if rec.NumRows() != rows {
				err = fmt.Errorf("batch has %d rows, want %d", rec.NumRows(), rows)
			}
			rec.Release()
		}
		done <- err
	}()
	var midway []int64 // counts seen while Next had not returned
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			break wait
		case <-tick.C:
			if n, _ := c.Load(); n > 0 && n < rows {
				midway = append(midway, n)
			}
		}
	}
	if len(midway) < 3 {
		t.Errorf("the counter moved only %d times during a %.1fs batch (%v); want it to follow the rows", len(midway), rows*0.05, midway)
	}
	n, b := c.Load()
	if n != rows || b < rows*9000 {
		t.Errorf("counter at the end = %d rows, %d bytes; want %d rows and at least %d bytes", n, b, rows, rows*9000)
	}
}
