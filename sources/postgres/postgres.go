package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/sources"
)

// DefaultBatchRows is the number of rows in a batch when Options.BatchRows is zero.
const DefaultBatchRows = 64 * 1024

// statementName names the query's prepared statement on its dedicated connection.
const statementName = "cubesync_source"

// closeTimeout bounds how long Close waits for the server while ending an unfinished query.
const closeTimeout = 5 * time.Second

// Options tune a Reader. The zero value is ready to use.
type Options struct {
	BatchRows int              // rows per record batch; DefaultBatchRows when zero
	Allocator memory.Allocator // memory for the batches; memory.DefaultAllocator when nil
	Logger    *slog.Logger     // discards when nil
	// Counter, if set, is told of rows as they are decoded (see sources.Counter), so
	// progress moves while a slow query yields its rows, not once per batch.
	Counter *sources.Counter
}

// Reader streams one query's result as Arrow record batches. It is not safe for concurrent
// use.
type Reader struct {
	conn      *pgx.Conn
	query     string
	queryArgs []any    // the result formats, then the query's arguments
	rows      pgx.Rows // nil until the first Next executes the prepared query
	schema    *arrow.Schema
	cols      []column
	builder   *array.RecordBuilder
	batchRows int
	logger    *slog.Logger
	counter   *sources.Counter // never nil

	// queryCtx is the executing query's context; cancelQuery ends it, which makes pgx
	// interrupt a blocked read and drop the connection. The query has a context of its own
	// so that Open's context governs only Open, and each Next's context its own call.
	queryCtx    context.Context
	cancelQuery context.CancelFunc

	read int64 // rows read so far
	done bool  // the result is exhausted
	err  error // the error that ended the read, returned by every later Next
}

var _ sources.Reader = (*Reader)(nil)

// Open prepares query on a new connection to dsn and returns a Reader of its result; the
// first Next executes it with args bound as its parameters $1, $2, ... (never spliced into
// the SQL). The schema is known when Open returns, before any row is read: a column of a type cubesync cannot push makes Open
// fail with an *UnsupportedTypeError saying which cast to add. Errors never contain the DSN's
// password; callers add the job, table and source.
func Open(ctx context.Context, dsn, query string, args []any, opts Options) (*Reader, error) {
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", connectError(err))
	}
	r, err := start(ctx, conn, query, args, opts)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(closeCtx) // the query's error is the one to report
		return nil, err
	}
	return r, nil
}

func connConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, dsnError(err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "cubesync"
	}
	return cfg, nil
}

func start(ctx context.Context, conn *pgx.Conn, query string, args []any, opts Options) (*Reader, error) {
	sd, err := conn.Prepare(ctx, statementName, query)
	if err != nil {
		return nil, queryError(err, query)
	}
	if len(sd.ParamOIDs) != len(args) {
		return nil, fmt.Errorf("the query has %d parameters ($1 ...) but %d values were given for them", len(sd.ParamOIDs), len(args))
	}
	if len(sd.Fields) == 0 {
		return nil, errors.New("the query returns no columns: it must be a SELECT (or another statement returning rows)")
	}
	cols, err := resolveColumns(ctx, conn, sd.Fields)
	if err != nil {
		return nil, err
	}

	formats := make(pgx.QueryResultFormats, len(cols))
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		formats[i] = pgx.BinaryFormatCode
		if c.kind == kindString {
			// Text-like types have the same bytes in both formats, except jsonb's version
			// byte and uuid's 16 raw bytes; text gives every one of them as the user sees it.
			formats[i] = pgx.TextFormatCode
		}
		fields[i] = c.field
	}

	// The query runs under a context of its own (see Reader.cancelQuery); keep ctx's values.
	queryCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))

	schema := arrow.NewSchema(fields, nil)
	r := &Reader{
		conn:        conn,
		query:       query,
		queryArgs:   append([]any{formats}, args...),
		queryCtx:    queryCtx,
		schema:      schema,
		cols:        cols,
		builder:     array.NewRecordBuilder(cmp.Or[memory.Allocator](opts.Allocator, memory.DefaultAllocator), schema),
		batchRows:   cmp.Or(opts.BatchRows, DefaultBatchRows),
		logger:      cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		counter:     cmp.Or(opts.Counter, &sources.Counter{}),
		cancelQuery: cancel,
	}
	r.logger.Debug("postgres query started", "columns", len(cols))
	return r, nil
}

// Schema returns the result's Arrow schema.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next returns the next batch of at most Options.BatchRows rows, or io.EOF after the last
// one. Cancelling ctx interrupts a blocked read and ends the query.
func (r *Reader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, r.cancelQuery)
	defer stop()

	if r.rows == nil {
		// pgx's Query returns only once the first row has arrived, so executing the query
		// here, not in Open, lets Open return the schema at once and puts the wait for the
		// first row under Next's context.
		rows, err := r.conn.Query(r.queryCtx, statementName, r.queryArgs...)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			}
			r.fail(queryError(err, r.query))
			return nil, r.err
		}
		r.rows = rows
	}

	if r.read > 0 {
		// The previous batch was full, so this one probably will be: size the buffers once
		// instead of doubling them up to batchRows.
		r.builder.Reserve(r.batchRows)
	}
	n := 0
	// Rows and their bytes are counted here and added to the shared counter only every
	// CountEvery rows, or when someone is waiting for the figures: no atomic write per row.
	var pending, pendingBytes int64
	for n < r.batchRows && r.rows.Next() {
		raw := r.rows.RawValues()
		for i := range r.cols {
			pendingBytes += int64(len(raw[i]))
			if err := r.appendValue(i, raw[i]); err != nil {
				r.fail(fmt.Errorf("row %d column %q: %w", r.read+int64(n)+1, r.cols[i].name, err))
				return nil, r.err
			}
		}
		n++
		if pending++; pending == sources.CountEvery || r.counter.Wanted() {
			r.counter.Add(pending, pendingBytes)
			pending, pendingBytes = 0, 0
		}
	}
	r.counter.Add(pending, pendingBytes)
	r.read += int64(n)
	if n < r.batchRows {
		if err := r.rows.Err(); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			}
			r.fail(fmt.Errorf("read the query's result after %d rows: %w", r.read, readError(err)))
			return nil, r.err
		}
		r.done = true
		r.logger.Debug("postgres query finished", "rows", r.read)
		if n == 0 {
			return nil, io.EOF
		}
	}
	return r.builder.NewRecordBatch(), nil
}

func (r *Reader) fail(err error) {
	r.err = err
	r.cancelQuery()
}

// Close ends the query, if it is still running, and the connection. It may be called at any
// time, and more than once.
func (r *Reader) Close() error {
	if r.builder == nil {
		return nil
	}
	r.builder.Release()
	r.builder = nil

	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if r.rows != nil {
		if !r.done && r.err == nil {
			// Rows.Close would read the rest of the result to reach the end of the query;
			// asking the server to cancel it and dropping the connection is instant instead.
			_ = r.conn.PgConn().CancelRequest(ctx)
			r.cancelQuery()
		}
		r.rows.Close()
	}
	r.cancelQuery()
	if err := r.conn.Close(ctx); err != nil {
		return fmt.Errorf("close the postgres connection: %w", err)
	}
	return nil
}

// appendValue decodes column i's raw value of the current row into its builder.
func (r *Reader) appendValue(i int, raw []byte) error {
	b := r.builder.Field(i)
	if raw == nil {
		b.AppendNull()
		return nil
	}
	c := &r.cols[i]
	switch c.kind {
	case kindInt2:
		v, err := decodeInt2(raw)
		if err != nil {
			return err
		}
		b.(*array.Int32Builder).Append(v)
	case kindInt4:
		v, err := decodeInt4(raw)
		if err != nil {
			return err
		}
		b.(*array.Int32Builder).Append(v)
	case kindInt8:
		v, err := decodeInt8(raw)
		if err != nil {
			return err
		}
		b.(*array.Int64Builder).Append(v)
	case kindFloat4:
		v, err := decodeFloat4(raw)
		if err != nil {
			return err
		}
		b.(*array.Float32Builder).Append(v)
	case kindFloat8:
		v, err := decodeFloat8(raw)
		if err != nil {
			return err
		}
		b.(*array.Float64Builder).Append(v)
	case kindBool:
		v, err := decodeBool(raw)
		if err != nil {
			return err
		}
		b.(*array.BooleanBuilder).Append(v)
	case kindDate:
		v, err := decodeDate(raw)
		if err != nil {
			return err
		}
		b.(*array.Date32Builder).Append(arrow.Date32(v))
	case kindTime:
		v, err := decodeTime(raw)
		if err != nil {
			return err
		}
		b.(*array.Time64Builder).Append(arrow.Time64(v))
	case kindTimestamp:
		v, err := decodeTimestamp(raw)
		if err != nil {
			return err
		}
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
	case kindNumeric128:
		u, err := decodeNumeric(raw, c.scale)
		if err != nil {
			return err
		}
		v, err := u.decimal128(c.field.Type.(*arrow.Decimal128Type).Precision)
		if err != nil {
			return err
		}
		b.(*array.Decimal128Builder).Append(v)
	case kindNumeric256:
		u, err := decodeNumeric(raw, c.scale)
		if err != nil {
			return err
		}
		v, err := u.decimal256(c.field.Type.(*arrow.Decimal256Type).Precision)
		if err != nil {
			return err
		}
		b.(*array.Decimal256Builder).Append(v)
	case kindString:
		b.(*array.StringBuilder).BinaryBuilder.Append(raw)
	default:
		return fmt.Errorf("no decoder for column kind %d", c.kind)
	}
	return nil
}
