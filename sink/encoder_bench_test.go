package sink

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const benchRows = 64 << 10 // rows per record

// benchChunkSize is the chunk size the memory target of issue 3 is stated for.
const benchChunkSize = 16 << 20

// bench6ColRecord builds the benchmark table: bigint, date, time, text, float8 and
// timestamptz columns of realistic values (about 1 in 50 NULL), rows [from, from+n).
func bench6ColRecord(mem memory.Allocator, from, n int) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "order_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "order_time", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "customer", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	rng := rand.New(rand.NewPCG(uint64(from), 7))
	names := []string{"Müller GmbH", "Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises", "Hooli"}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	dates := b.Field(1).(*array.Date32Builder)
	times := b.Field(2).(*array.Time64Builder)
	customers := b.Field(3).(*array.StringBuilder)
	amounts := b.Field(4).(*array.Float64Builder)
	stamps := b.Field(5).(*array.TimestampBuilder)
	for i := from; i < from+n; i++ {
		null := rng.IntN(50) == 0
		ids.Append(int64(1_000_000 + i))
		day := 19000 + rng.IntN(1500)
		if null {
			dates.AppendNull()
			times.AppendNull()
			customers.AppendNull()
			amounts.AppendNull()
			stamps.AppendNull()
			continue
		}
		dates.Append(arrow.Date32(day))
		times.Append(arrow.Time64(rng.Int64N(86400) * 1e6))
		customers.Append(fmt.Sprintf("%s #%d", names[rng.IntN(len(names))], rng.IntN(100000)))
		amounts.Append(float64(rng.IntN(10_000_000)) / 100)
		stamps.Append(arrow.Timestamp(int64(day)*86400e6 + rng.Int64N(86400e6)))
	}
	return b.NewRecordBatch()
}

// BenchmarkEncode6Col encodes 64Ki-row records of the 6-column table into 16 MB chunks,
// releasing each chunk at once as an uploader would.
func BenchmarkEncode6Col(b *testing.B) {
	rec := bench6ColRecord(memory.NewGoAllocator(), 0, benchRows)
	defer rec.Release()
	enc, err := NewEncoder(rec.Schema(), allColumns(rec), benchChunkSize)
	if err != nil {
		b.Fatal(err)
	}
	encodeLoop(b, enc, rec, func(ch *Chunk) error {
		ch.Release()
		return nil
	}, func() {})
}

// encodeLoop encodes rec b.N times with enc, handing chunks to emit, and reports the rows
// per second once the last chunk is flushed and wait has returned.
func encodeLoop(b *testing.B, enc *Encoder, rec arrow.RecordBatch, emit func(*Chunk) error, wait func()) {
	b.SetBytes(jsonBytesPerRecord(b, rec))
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Write(rec, emit); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Flush(emit); err != nil {
		b.Fatal(err)
	}
	wait()
	b.ReportMetric(float64(b.N)*benchRows/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEncodeBase64 encodes the 6-column table and streams every chunk through a
// base64 encoder into io.Discard: in series on one goroutine, and pipelined with base64
// on a second goroutine as the runner does (encode chunk N+1 while chunk N is sent).
func BenchmarkEncodeBase64(b *testing.B) {
	rec := bench6ColRecord(memory.NewGoAllocator(), 0, benchRows)
	defer rec.Release()
	for _, pipelined := range []bool{false, true} {
		name := "serial"
		if pipelined {
			name = "pipelined"
		}
		b.Run(name, func(b *testing.B) {
			enc, err := NewEncoder(rec.Schema(), allColumns(rec), benchChunkSize)
			if err != nil {
				b.Fatal(err)
			}
			emit, wait := base64Sink(b, pipelined)
			encodeLoop(b, enc, rec, emit, wait)
		})
	}
}

// BenchmarkParquetEncodeBase64 is the whole Parquet → Arrow → JSON → base64 path of the
// issue's target (>= 2 million rows/s on 2 cores): each iteration reads a 1Mi-row Parquet
// file from memory in 64Ki-row batches on one goroutine, encodes them into 16 MB chunks
// on another and base64s the chunks on a third.
func BenchmarkParquetEncodeBase64(b *testing.B) {
	const records = 16
	var buf bytes.Buffer
	mem := memory.NewGoAllocator()
	var schema *arrow.Schema
	var fw *pqarrow.FileWriter
	for i := range records {
		rec := bench6ColRecord(mem, i*benchRows, benchRows)
		if fw == nil {
			schema = rec.Schema()
			var err error
			fw, err = pqarrow.NewFileWriter(schema, &buf, nil, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := fw.Write(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if err := fw.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: benchRows}, mem)
		if err != nil {
			b.Fatal(err)
		}
		rr, err := fr.GetRecordReader(context.Background(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		enc, err := NewEncoder(rr.Schema(), schemaColumns(rr.Schema()), benchChunkSize)
		if err != nil {
			b.Fatal(err)
		}
		// Read on one goroutine, encode on this one, base64 on a third: the runner's
		// overlap of reading, encoding and uploading.
		recs := make(chan arrow.RecordBatch, 1)
		readErr := make(chan error, 1)
		go func() {
			defer close(recs)
			for rr.Next() {
				rec := rr.RecordBatch()
				rec.Retain()
				recs <- rec
			}
			readErr <- rr.Err()
		}()
		emit, wait := base64Sink(b, true)
		rows := 0
		for rec := range recs {
			rows += int(rec.NumRows())
			if err := enc.Write(rec, emit); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		if err := <-readErr; err != nil && err != io.EOF {
			b.Fatal(err)
		}
		if err := enc.Flush(emit); err != nil {
			b.Fatal(err)
		}
		wait()
		rr.Release()
		pf.Close()
		if rows != records*benchRows {
			b.Fatalf("read %d rows, want %d", rows, records*benchRows)
		}
	}
	b.ReportMetric(float64(b.N)*records*benchRows/b.Elapsed().Seconds(), "rows/s")
}

// base64Sink returns an emit func that writes each chunk through a base64 encoder into
// io.Discard and releases it, on a second goroutine when pipelined (with one chunk of
// backpressure), and a func that waits for the last chunk.
func base64Sink(b *testing.B, pipelined bool) (emit func(*Chunk) error, wait func()) {
	send := func(ch *Chunk) {
		w := base64.NewEncoder(base64.StdEncoding, io.Discard)
		if _, err := ch.WriteTo(w); err != nil {
			b.Error(err)
		}
		if err := w.Close(); err != nil {
			b.Error(err)
		}
		ch.Release()
	}
	if !pipelined {
		return func(ch *Chunk) error { send(ch); return nil }, func() {}
	}
	chunks := make(chan *Chunk, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch := range chunks {
			send(ch)
		}
	}()
	return func(ch *Chunk) error { chunks <- ch; return nil }, func() { close(chunks); <-done }
}

// jsonBytesPerRecord is the JSON size of one record, for b.SetBytes.
func jsonBytesPerRecord(b *testing.B, rec arrow.RecordBatch) int64 {
	b.Helper()
	enc, err := NewEncoder(rec.Schema(), allColumns(rec), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	count := func(ch *Chunk) error { n += ch.Len(); ch.Release(); return nil }
	if err := enc.Write(rec, count); err != nil {
		b.Fatal(err)
	}
	if err := enc.Flush(count); err != nil {
		b.Fatal(err)
	}
	return n
}
