//go:build ignore

// gen writes the demo data set that the shipped jobs.toml's demo job loads: a store list and
// two quarters of sales orders, as Parquet. The data is made up but shaped like a small
// retail chain's export, and covers the types cubesync pushes: integers, decimals, floats,
// booleans, strings, dictionary-encoded strings, dates, times, timestamps, and NULLs.
//
// Run it from the repository root; the output is the same on every run (fixed seed):
//
//	go run testdata/demo/gen.go
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
	_ "time/tzdata" // order times are drawn in Europe/Berlin shop hours, whatever the machine's zone data

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

var (
	dictString = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	money      = &arrow.Decimal128Type{Precision: 10, Scale: 2}

	storesSchema = arrow.NewSchema([]arrow.Field{
		{Name: "store_id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "store_name", Type: arrow.BinaryTypes.String},
		{Name: "city", Type: arrow.BinaryTypes.String},
		{Name: "region", Type: dictString},
		{Name: "opened_on", Type: arrow.FixedWidthTypes.Date32},
		{Name: "manager", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "floor_area_m2", Type: money},
	}, nil)

	ordersSchema = arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "store_id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ordered_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "ship_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "pickup_time", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "customer", Type: arrow.BinaryTypes.String},
		{Name: "channel", Type: dictString},
		{Name: "quantity", Type: arrow.PrimitiveTypes.Int32},
		{Name: "unit_price", Type: money},
		{Name: "discount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "gift", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
)

type store struct {
	name, city, region string
	opened             string
	manager            string // empty: the post is vacant (NULL)
	areaCents          int64
	weight             int // relative number of orders
}

var stores = []store{
	{"Hamburg Altona", "Hamburg", "north", "2006-03-14", "Jana Petersen", 182050, 9},
	{"Hamburg Wandsbek", "Hamburg", "north", "2014-09-01", "Ole Hansen", 124500, 6},
	{"Bremen Mitte", "Bremen", "north", "2009-05-22", "Frauke Meyer", 98075, 5},
	{"Kiel Hafen", "Kiel", "north", "2018-11-03", "", 76000, 3},
	{"Hannover Linden", "Hannover", "north", "2011-02-28", "Sven Ahrens", 143020, 6},
	{"Berlin Mitte", "Berlin", "east", "2005-06-01", "Aylin Demir", 251000, 12},
	{"Berlin Kreuzberg", "Berlin", "east", "2012-04-16", "Tomasz Nowak", 167550, 9},
	{"Berlin Spandau", "Berlin", "east", "2019-08-30", "", 92025, 4},
	{"Leipzig Zentrum", "Leipzig", "east", "2010-10-10", "Katrin Vogel", 134000, 6},
	{"Dresden Neustadt", "Dresden", "east", "2016-03-05", "Paul Richter", 118090, 5},
	{"Köln Ehrenfeld", "Köln", "west", "2007-07-07", "Lea Schmitz", 199900, 10},
	{"Düsseldorf Bilk", "Düsseldorf", "west", "2013-01-21", "Mehmet Yıldız", 155000, 7},
	{"Dortmund Hafen", "Dortmund", "west", "2015-05-15", "Nina Krüger", 121075, 5},
	{"Essen Rüttenscheid", "Essen", "west", "2020-02-02", "", 88050, 3},
	{"Bonn Südstadt", "Bonn", "west", "2017-09-12", "Jonas Becker", 101000, 4},
	{"München Schwabing", "München", "south", "2006-11-20", "Sophie Huber", 238000, 11},
	{"München Giesing", "München", "south", "2021-06-18", "Andreas Maier", 112550, 5},
	{"Stuttgart West", "Stuttgart", "south", "2008-04-04", "Elena Wagner", 176025, 8},
	{"Nürnberg Gostenhof", "Nürnberg", "south", "2012-12-12", "Lukas Hofmann", 129000, 6},
	{"Freiburg Wiehre", "Freiburg", "south", "2022-03-01", "", 69050, 2},
	{"Frankfurt Bornheim", "Frankfurt am Main", "central", "2005-09-19", "Miriam Schulz", 214075, 10},
	{"Mainz Neustadt", "Mainz", "central", "2014-08-08", "Felix Wolf", 97000, 4},
	{"Kassel Vorderer Westen", "Kassel", "central", "2016-10-24", "Greta König", 84525, 3},
	{"Erfurt Altstadt", "Erfurt", "central", "2019-01-14", "Jan Schröder", 91000, 3},
	{"Wiesbaden Mitte", "Wiesbaden", "central", "2023-05-05", "Clara Neumann", 73050, 2},
}

// Products are only a price list: orders carry a unit price, not a product.
var prices = []int64{249, 399, 599, 899, 1299, 1499, 1999, 2499, 3499, 4999, 7999, 12900, 24900, 49900}

var firstNames = []string{"Anna", "Ben", "Chiara", "David", "Emma", "Finn", "Hanna", "Ibrahim", "Julia", "Karim",
	"Laura", "Maximilian", "Noah", "Olga", "Pia", "Rafael", "Sara", "Timo", "Ursula", "Zoë", "Łukasz", "Søren", "Amélie"}
var lastNames = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
	"Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Öztürk", "Kowalski", "Rossi", "García", "O'Brien"}

func main() {
	out := flag.String("out", filepath.Join("testdata", "demo"), "directory to write the demo files to")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("output directory: %w (run this from the repository root: go run testdata/demo/gen.go)", err)
	}
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(20240101, 42))

	if err := write(filepath.Join(out, "stores.parquet"), storesSchema, storeRows(mem)); err != nil {
		return err
	}
	nextID := int64(100001)
	for _, q := range []struct {
		name       string
		start, end time.Time
		orders     int
	}{
		{"orders-2024-q1.parquet", date("2024-01-01"), date("2024-04-01"), 1800},
		{"orders-2024-q2.parquet", date("2024-04-01"), date("2024-07-01"), 2100},
	} {
		rec := orderRows(mem, rng, &nextID, q.start, q.end, q.orders)
		err := write(filepath.Join(out, "orders", q.name), ordersSchema, rec)
		if err != nil {
			return err
		}
	}
	return nil
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func date32(t time.Time) arrow.Date32 { return arrow.Date32FromTime(t) }

func storeRows(mem memory.Allocator) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, storesSchema)
	defer b.Release()
	for i, s := range stores {
		b.Field(0).(*array.Int32Builder).Append(int32(i + 1))
		b.Field(1).(*array.StringBuilder).Append(s.name)
		b.Field(2).(*array.StringBuilder).Append(s.city)
		must(b.Field(3).(*array.BinaryDictionaryBuilder).AppendString(s.region))
		b.Field(4).(*array.Date32Builder).Append(date32(date(s.opened)))
		if s.manager == "" {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.StringBuilder).Append(s.manager)
		}
		b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(s.areaCents))
	}
	return b.NewRecordBatch()
}

// orderRows makes n orders placed between start and end, in time order, numbered from
// *nextID on.
func orderRows(mem memory.Allocator, rng *rand.Rand, nextID *int64, start, end time.Time, n int) arrow.RecordBatch {
	// Order times: shop hours 08:00-20:00 in the stores' zone, sorted.
	berlin, err := time.LoadLocation("Europe/Berlin")
	must(err)
	days := int(end.Sub(start).Hours() / 24)
	times := make([]time.Time, n)
	for i := range times {
		day := start.AddDate(0, 0, rng.IntN(days))
		local := time.Date(day.Year(), day.Month(), day.Day(), 8, 0, 0, 0, berlin)
		times[i] = local.Add(time.Duration(rng.Int64N(int64(12 * time.Hour)))).Truncate(time.Second).UTC()
	}
	slices.SortFunc(times, time.Time.Compare)

	totalWeight := 0
	for _, s := range stores {
		totalWeight += s.weight
	}

	b := array.NewRecordBuilder(mem, ordersSchema)
	defer b.Release()
	for _, at := range times {
		storeIdx := pickWeighted(rng, totalWeight)
		channel := "store"
		switch r := rng.IntN(100); {
		case r < 50:
			channel = "web"
		case r < 65:
			channel = "phone"
		}
		b.Field(0).(*array.Int64Builder).Append(*nextID)
		*nextID++
		b.Field(1).(*array.Int32Builder).Append(int32(storeIdx + 1))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))

		// Web orders are shipped or collected in store; phone orders are shipped; store
		// orders leave with the customer, so they have neither a ship date nor a pickup time.
		pickup := channel == "web" && rng.IntN(100) < 30
		if channel == "store" || pickup {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Date32Builder).Append(date32(at.AddDate(0, 0, 1+rng.IntN(4))))
		}
		if pickup {
			slot := 10*time.Hour + time.Duration(rng.IntN(39))*15*time.Minute // 10:00 to 19:30
			b.Field(4).(*array.Time64Builder).Append(arrow.Time64(slot.Microseconds()))
		} else {
			b.Field(4).AppendNull()
		}

		b.Field(5).(*array.StringBuilder).Append(firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))])
		must(b.Field(6).(*array.BinaryDictionaryBuilder).AppendString(channel))

		qty := 1 + rng.IntN(4)
		if rng.IntN(10) == 0 {
			qty += rng.IntN(20)
		}
		priceCents := prices[rng.IntN(len(prices))]
		b.Field(7).(*array.Int32Builder).Append(int32(qty))
		b.Field(8).(*array.Decimal128Builder).Append(decimal128.FromI64(priceCents))

		discount := 0.0
		if rng.IntN(100) < 30 {
			discount = []float64{0.05, 0.1, 0.15, 0.2, 0.25}[rng.IntN(5)]
			b.Field(9).(*array.Float64Builder).Append(discount)
		} else {
			b.Field(9).AppendNull()
		}
		amount := math.Round(float64(qty)*float64(priceCents)*(1-discount)) / 100
		b.Field(10).(*array.Float64Builder).Append(amount)
		b.Field(11).(*array.BooleanBuilder).Append(rng.IntN(100) < 8)
	}
	return b.NewRecordBatch()
}

func pickWeighted(rng *rand.Rand, total int) int {
	r := rng.IntN(total)
	for i, s := range stores {
		if r < s.weight {
			return i
		}
		r -= s.weight
	}
	panic("unreachable")
}

// write writes rec to path as Snappy-compressed Parquet in row groups of 1,000 rows, with
// the Arrow schema stored so dictionaries and the UTC zone survive the round trip.
func write(path string, sc *arrow.Schema, rec arrow.RecordBatch) error {
	defer rec.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f,
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(1000)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Write(rec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d rows, %d bytes\n", path, rec.NumRows(), st.Size())
	return nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
