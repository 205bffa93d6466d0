package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/sources"
)

// MaxParallel is the most connections one query may be split over.
const MaxParallel = 64

// parallelReader reads one query over several connections that all see one snapshot: the
// first connection exports its snapshot (pg_export_snapshot), every part imports it (SET
// TRANSACTION SNAPSHOT) before it runs, so together the parts read exactly the rows a
// single read at that moment would have read, however the table changes meanwhile.
// Batches come from the parts as they are read, in no particular order between parts.
type parallelReader struct {
	schema *arrow.Schema
	parts  []*Reader
	out    chan partBatch
	cancel context.CancelFunc
	wg     sync.WaitGroup

	live int   // parts not finished yet
	err  error // the error that ended the read
}

type partBatch struct {
	rec arrow.RecordBatch
	err error // io.EOF when the part is done
}

var _ sources.Reader = (*parallelReader)(nil)

// OpenParallel is Open with the read split over n connections (2 to MaxParallel) that
// share one snapshot, so that a large table is read on several server cores at once: by
// ranges of ctids when column is empty (the query must then be a plain scan of one
// table, filters allowed), otherwise by ranges of the values of column, an integer column
// of the query's result (rows where it is null go with the first range). The batches of
// the parts come in no particular order.
func OpenParallel(ctx context.Context, dsn, query string, args []any, n int, column string, opts Options) (_ sources.Reader, err error) {
	if n < 2 || n > MaxParallel {
		return nil, fmt.Errorf("parallel read over %d connections: want 2 to %d", n, MaxParallel)
	}
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	var conns []*pgx.Conn
	defer func() {
		if err != nil {
			closeConns(conns)
		}
	}()
	connect := func() (*pgx.Conn, error) {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to postgres: %w", connectError(err))
		}
		conns = append(conns, conn)
		return conn, nil
	}

	lead, err := connect()
	if err != nil {
		return nil, err
	}
	// The lead connection holds the snapshot open until every part has imported it.
	if _, err := lead.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return nil, fmt.Errorf("parallel read: begin: %w", err)
	}
	// The plan must be a plain scan to be split by ctid, not one that Postgres's own
	// parallel workers read.
	if _, err := lead.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return nil, fmt.Errorf("parallel read: %w", err)
	}
	var snapshot string
	if err := lead.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("parallel read: export the snapshot: %w", err)
	}
	whole, err := start(ctx, lead, query, args, opts) // the query's schema, and a check that it runs
	if err != nil {
		return nil, err
	}
	whole.cancelQuery()
	whole.builder.Release()

	var queries []string
	if column != "" {
		queries, err = columnParts(ctx, lead, query, args, column, n)
	} else {
		names := make([]string, len(whole.cols))
		for i, c := range whole.cols {
			names[i] = c.name
		}
		queries, err = ctidParts(ctx, lead, query, args, names, n)
	}
	if err != nil {
		return nil, err
	}

	p := &parallelReader{schema: whole.schema}
	for i, q := range queries {
		conn, err := connect()
		if err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return nil, fmt.Errorf("parallel read part %d: begin: %w", i+1, err)
		}
		if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(snapshot)); err != nil {
			return nil, fmt.Errorf("parallel read part %d: import the snapshot: %w", i+1, err)
		}
		sd, err := conn.Prepare(ctx, "", q)
		if err != nil {
			return nil, fmt.Errorf("parallel read part %d (%s): %w", i+1, q, queryError(err, q))
		}
		partArgs := args
		if len(sd.ParamOIDs) == 0 {
			partArgs = nil // the plan folded the watermark into its filter
		}
		r, err := start(ctx, conn, q, partArgs, opts)
		if err != nil {
			return nil, fmt.Errorf("parallel read part %d (%s): %w", i+1, q, err)
		}
		if !r.schema.Equal(p.schema) {
			r.builder.Release()
			return nil, fmt.Errorf("parallel read part %d: its columns %s differ from the query's %s", i+1, r.schema, p.schema)
		}
		p.parts = append(p.parts, r)
	}
	// Every part has imported the snapshot: the lead's transaction may end.
	closeConns(conns[:1])

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.out = make(chan partBatch, len(p.parts))
	p.live = len(p.parts)
	for _, r := range p.parts {
		p.wg.Go(func() { p.run(runCtx, r) })
	}
	whole.logger.Debug("postgres parallel read started", "parts", len(p.parts), "by", cmp.Or(column, "ctid"))
	return p, nil
}

// run reads one part to its end, handing its batches over.
func (p *parallelReader) run(ctx context.Context, r *Reader) {
	for {
		rec, err := r.Next(ctx)
		select {
		case p.out <- partBatch{rec: rec, err: err}:
		case <-ctx.Done():
			if rec != nil {
				rec.Release()
			}
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *parallelReader) Schema() *arrow.Schema { return p.schema }

// Next returns the next batch of any part, or io.EOF once every part is done.
func (p *parallelReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if p.err != nil {
			return nil, p.err
		}
		if p.live == 0 {
			return nil, io.EOF
		}
		select {
		case b := <-p.out:
			switch {
			case b.err == nil:
				return b.rec, nil
			case errors.Is(b.err, io.EOF):
				p.live--
			default:
				p.err = b.err
				p.cancel()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close stops every part and closes their connections.
func (p *parallelReader) Close() error {
	p.cancel()
	p.wg.Wait()
	for {
		select {
		case b := <-p.out:
			if b.rec != nil {
				b.rec.Release()
			}
			continue
		default:
		}
		break
	}
	var errs []error
	for _, r := range p.parts {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// ctidParts splits a plain scan of one table into n ranges of its pages. The query's plan
// says which table it scans, what it outputs and how it filters; each part is the same
// scan limited to a range of ctids (a TID range scan from Postgres 14 on).
func ctidParts(ctx context.Context, conn *pgx.Conn, query string, args []any, names []string, n int) ([]string, error) {
	var plan []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+query, args...).Scan(&plan); err != nil {
		return nil, fmt.Errorf("parallel read: explain the query: %w", err)
	}
	var doc []struct {
		Plan struct {
			NodeType string   `json:"Node Type"`
			Relation string   `json:"Relation Name"`
			Schema   string   `json:"Schema"`
			Alias    string   `json:"Alias"`
			Output   []string `json:"Output"`
			Filter   string   `json:"Filter"`
			Plans    []any    `json:"Plans"`
		}
	}
	if err := json.Unmarshal(plan, &doc); err != nil || len(doc) != 1 {
		return nil, fmt.Errorf("parallel read: the query's plan is not what EXPLAIN gives: %.200s", plan)
	}
	pl := doc[0].Plan
	if pl.NodeType != "Seq Scan" || len(pl.Plans) > 0 || pl.Relation == "" {
		return nil, fmt.Errorf("parallel = %d splits a plain scan of one table by ctid, but this query's plan is a %q: set parallel_column to an integer column of the result to split it by that column's values instead", n, pl.NodeType)
	}
	var pages int64
	table := pgx.Identifier{pl.Schema, pl.Relation}.Sanitize()
	if err := conn.QueryRow(ctx, "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int8", table).Scan(&pages); err != nil {
		return nil, fmt.Errorf("parallel read: size of table %s: %w", table, err)
	}
	alias := pgx.Identifier{pl.Alias}.Sanitize()
	if len(names) != len(pl.Output) {
		return nil, fmt.Errorf("parallel read: the plan outputs %d columns, the query %d", len(pl.Output), len(names))
	}
	var sel strings.Builder
	for i, expr := range pl.Output {
		if i > 0 {
			sel.WriteString(", ")
		}
		sel.WriteString(expr + " AS " + pgx.Identifier{names[i]}.Sanitize())
	}
	filter := ""
	if pl.Filter != "" {
		filter = pl.Filter + " AND "
	}
	per := max(1, (pages+int64(n)-1)/int64(n))
	parts := make([]string, n)
	for i := range n {
		// The first range starts at 0 and the last is open: rows that the snapshot sees
		// were all in pages below the size read now.
		var cond []string
		if i > 0 {
			cond = append(cond, fmt.Sprintf("%s.ctid >= '(%d,0)'::tid", alias, int64(i)*per))
		}
		if i < n-1 {
			cond = append(cond, fmt.Sprintf("%s.ctid < '(%d,0)'::tid", alias, int64(i+1)*per))
		}
		if len(cond) == 0 {
			cond = append(cond, "true")
		}
		parts[i] = fmt.Sprintf("SELECT %s FROM %s AS %s WHERE %s%s", sel.String(), table, alias, filter, strings.Join(cond, " AND "))
	}
	return parts, nil
}

// columnParts splits the query's result into n ranges of the values of its integer column
// col, between their least and greatest values in the snapshot; rows where col is null
// go with the first part.
func columnParts(ctx context.Context, conn *pgx.Conn, query string, args []any, col string, n int) ([]string, error) {
	c := pgx.Identifier{col}.Sanitize()
	inner := "(" + query + ") AS cubesync_parallel"
	var lo, hi *int64
	err := conn.QueryRow(ctx, fmt.Sprintf("SELECT min(%[1]s)::int8, max(%[1]s)::int8 FROM %[2]s", c, inner), args...).Scan(&lo, &hi)
	if err != nil {
		return nil, fmt.Errorf("parallel read: range of parallel_column %q (it must be an integer column of the query's result): %w", col, err)
	}
	if lo == nil { // no row, or only nulls: one part reads them all
		return []string{"SELECT * FROM " + inner}, nil
	}
	// Unsigned arithmetic: hi - lo may not fit an int64, the bounds between them do.
	span := uint64(*hi) - uint64(*lo)
	bound := func(i int) int64 {
		k, m := uint64(i), uint64(n)
		return *lo + int64(span/m*k+span%m*k/m)
	}
	parts := make([]string, n)
	for i := range n {
		var cond []string
		if i > 0 {
			cond = append(cond, fmt.Sprintf("%s >= %d", c, bound(i)))
		}
		if i < n-1 {
			cond = append(cond, fmt.Sprintf("%s < %d", c, bound(i+1)))
		}
		where := strings.Join(cond, " AND ")
		switch {
		case where == "":
			where = "true"
		case i == 0:
			where = "(" + where + " OR " + c + " IS NULL)"
		}
		parts[i] = fmt.Sprintf("SELECT * FROM %s WHERE %s", inner, where)
	}
	return parts, nil
}

func closeConns(conns []*pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	for _, c := range conns {
		_ = c.Close(ctx)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
