// Package benchdata holds the rows of cubesync's benchmark table, so that the in-process
// benchmarks (jobs) and the process-level one (testdata/bench) push the same data: bigint,
// date, time, text, float8 and timestamptz, a pure function of the row number.
//
// benchdata imports nothing of cubesync.
package benchdata

import (
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Schema is the benchmark table's Arrow schema; nullable says whether its columns may be
// null (Parquet optional columns) or not (required ones).
func Schema(nullable bool) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: nullable},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: nullable},
		{Name: "at_time", Type: arrow.FixedWidthTypes.Time64us, Nullable: nullable},
		{Name: "label", Type: arrow.BinaryTypes.String, Nullable: nullable},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: nullable},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: nullable},
	}, nil)
}

// base is updated_at of row 0, in microseconds since the epoch.
var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// AppendRows appends rows lo to hi-1 of the table to bld, built on a Schema.
func AppendRows(bld *array.RecordBuilder, lo, hi int) {
	ids := bld.Field(0).(*array.Int64Builder)
	days := bld.Field(1).(*array.Date32Builder)
	times := bld.Field(2).(*array.Time64Builder)
	labels := bld.Field(3).(*array.StringBuilder)
	values := bld.Field(4).(*array.Float64Builder)
	stamps := bld.Field(5).(*array.TimestampBuilder)
	for i := lo; i < hi; i++ {
		ids.Append(int64(i) * 7919)
		days.Append(arrow.Date32(19000 + i%3650))
		times.Append(arrow.Time64(int64(i%86400) * 1e6))
		labels.Append("customer-" + strconv.Itoa(i%100000))
		values.Append(float64(i) * 0.37)
		stamps.Append(arrow.Timestamp(base + int64(i)*1_000_003))
	}
}
