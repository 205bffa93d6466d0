package postgres_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/sources"
	"github.com/cubesync/cubesync/sources/postgres"
)

// rowsOf reads every batch of r and returns its rows as text (ValueStr of each column,
// "null" for nulls), sorted: parts of a parallel read come in no particular order.
func rowsOf(t *testing.T, r sources.Reader) []string {
	t.Helper()
	var rows []string
	for {
		rec, err := r.Next(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d rows: %v", len(rows), err)
		}
		if !rec.Schema().Equal(r.Schema()) {
			t.Errorf("batch schema %v differs from Schema() %v", rec.Schema(), r.Schema())
		}
		for i := range int(rec.NumRows()) {
			vals := make([]string, rec.NumCols())
			for c, col := range rec.Columns() {
				vals[c] = "null"
				if col.IsValid(i) {
					vals[c] = col.ValueStr(i)
				}
			}
			rows = append(rows, strings.Join(vals, "|"))
		}
		rec.Release()
	}
	slices.Sort(rows)
	return rows
}

const parallelTable = `CREATE TABLE facts AS SELECT
	i::bigint AS id,
	CASE WHEN i % 7 = 0 THEN NULL ELSE 'label ' || i END AS label,
	(i * 1.25)::numeric(12,2) AS amount,
	timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' AS at,
	CASE WHEN i % 11 = 0 THEN NULL ELSE i % 1000 END::int AS bucket
	FROM generate_series(1, 20000) AS i`

// TestParallelReadEqualsSingleRead reads queries over several connections, split by ctid
// and by a column, and checks that they give exactly the rows, value for value, of the
// same query read over one.
func TestParallelReadEqualsSingleRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t, parallelTable, "DELETE FROM facts WHERE id % 13 = 0", "VACUUM facts")
	since := time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, query string
		args        []any
		n           int
		column      string
	}{
		{"ctid, whole table", "SELECT * FROM facts", nil, 3, ""},
		{"ctid, columns, filter and watermark", "SELECT f.id, upper(f.label) AS loud, f.amount, f.at FROM facts f WHERE f.at > $1 AND f.label IS NOT NULL", []any{since}, 4, ""},
		{"ctid, more parts than pages", "SELECT * FROM facts WHERE id < 50", nil, 64, ""},
		{"column", "SELECT id, label, amount, bucket FROM facts WHERE at > $1", []any{since}, 3, "bucket"},
		{"column, one value", "SELECT id, 5 AS five FROM facts", nil, 4, "five"},
		{"column, no rows", "SELECT id, bucket FROM facts WHERE false", nil, 2, "bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			single, err := postgres.Open(t.Context(), dsn, tt.query, tt.args, postgres.Options{Allocator: mem, BatchRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := rowsOf(t, single)
			single.Close()
			par, err := postgres.OpenParallel(t.Context(), dsn, tt.query, tt.args, tt.n, tt.column, postgres.Options{Allocator: mem, BatchRows: 1000})
			if err != nil {
				t.Fatalf("OpenParallel(%d, %q): %v", tt.n, tt.column, err)
			}
			defer par.Close()
			if !par.Schema().Equal(single.Schema()) {
				t.Errorf("parallel schema %v, single %v", par.Schema(), single.Schema())
			}
			got := rowsOf(t, par)
			if len(got) != len(want) {
				t.Fatalf("parallel read gave %d rows, single read %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("row %d: parallel read %q, single read %q", i, got[i], want[i])
				}
			}
		})
	}
}

// TestParallelReadIsOneSnapshot changes the table while parallel reads run: each read must
// see every row exactly once, all as of the moment it was opened.
func TestParallelReadIsOneSnapshot(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dsn := setup(t, "CREATE TABLE t AS SELECT i::bigint AS id, 0 AS v FROM generate_series(1, 30000) AS i")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// bump changes every row in one transaction; the lock keeps two bumps from deadlocking
	// (reads are not blocked by it).
	bump := func(conn *pgx.Conn) error {
		return pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(context.Background(), "LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
			_, err := tx.Exec(context.Background(), "UPDATE t SET v = v + 1")
			return err
		})
	}

	// Rows change all the time: an updater bumps every row's v, over and over.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for ctx.Err() == nil {
			if err := bump(c); err != nil && ctx.Err() == nil {
				t.Errorf("update: %v", err)
				return
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()

	for _, column := range []string{"", "id"} {
		for round := range 3 {
			r, err := postgres.OpenParallel(t.Context(), dsn, "SELECT id, v FROM t", nil, 4, column, postgres.Options{Allocator: mem, BatchRows: 500})
			if err != nil {
				t.Fatal(err)
			}
			// Committed after the read was opened: the read must not see it.
			var before int64
			if err := conn.QueryRow(t.Context(), "SELECT v FROM t WHERE id = 1").Scan(&before); err != nil {
				t.Fatal(err)
			}
			if err := bump(conn); err != nil {
				t.Fatal(err)
			}
			rows := rowsOf(t, r)
			r.Close()
			if len(rows) != 30000 {
				t.Fatalf("by %q, round %d: %d rows, want each of the 30000 once", column, round, len(rows))
			}
			seen := map[string]bool{}
			versions := map[string]int{}
			for _, row := range rows {
				id, v, _ := strings.Cut(row, "|")
				if seen[id] {
					t.Fatalf("by %q, round %d: row %s read twice", column, round, id)
				}
				seen[id] = true
				versions[v]++
			}
			if len(versions) != 1 {
				t.Fatalf("by %q, round %d: rows of several versions %v: the parts did not share one snapshot", column, round, versions)
			}
			for v := range versions {
				if n, err := strconv.ParseInt(v, 10, 64); err != nil || n > before {
					t.Errorf("by %q, round %d: read version %s, but it was at most %d when the read was opened", column, round, v, before)
				}
			}
		}
	}
}

// TestParallelReadNeedsAPlainScan checks the error for a query that cannot be split by
// ctid, and for a parallel_column that is not an integer column.
func TestParallelReadNeedsAPlainScan(t *testing.T) {
	dsn := setup(t, parallelTable)
	_, err := postgres.OpenParallel(t.Context(), dsn, "SELECT bucket, count(*) FROM facts GROUP BY bucket", nil, 2, "", postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "parallel_column") || !strings.Contains(err.Error(), "plain scan") {
		t.Errorf("OpenParallel of an aggregate = %v, want an error saying to set parallel_column", err)
	}
	_, err = postgres.OpenParallel(t.Context(), dsn, "SELECT * FROM facts", nil, 2, "label", postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), `parallel_column "label"`) {
		t.Errorf("OpenParallel by a text column = %v, want an error naming parallel_column", err)
	}
}
