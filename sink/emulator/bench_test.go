package emulator

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/cubesync/cubesync/sink"
)

// benchChunk builds a COLUMN-orientation chunk of the orders table of about size bytes of
// JSON, and the PUT body carrying it.
func benchChunk(size int) (rowsN int, body []byte) {
	var ids, stores, amounts, qtys []byte
	for n := 0; len(ids)+len(stores)+len(amounts)+len(qtys) < size; n++ {
		if n > 0 {
			ids = append(ids, ',')
			stores = append(stores, ',')
			amounts = append(amounts, ',')
			qtys = append(qtys, ',')
		}
		ids = strconv.AppendInt(ids, int64(n), 10)
		stores = strconv.AppendInt(append(stores, `"store number `...), int64(n%500), 10)
		stores = append(stores, '"')
		amounts = strconv.AppendInt(amounts, int64(n%10000), 10)
		amounts = append(amounts, '.', byte('0'+n%10), '5')
		qtys = strconv.AppendInt(qtys, int64(n)*1000003, 10)
		rowsN++
	}
	data := bytes.Join([][]byte{[]byte("[["), ids, []byte("],["), stores, []byte("],["), amounts, []byte("],["), qtys, []byte("]]")}, nil)
	body = []byte(`{"tableName":"orders","index":1,"data":"` + base64.StdEncoding.EncodeToString(data) + `"}`)
	return rowsN, body
}

// BenchmarkPut measures validating a 16 MB chunk end to end over HTTP, in Discard mode
// (nothing kept) and keeping the rows.
func BenchmarkPut(b *testing.B) {
	for _, discard := range []bool{true, false} {
		b.Run(fmt.Sprintf("discard=%t", discard), func(b *testing.B) {
			bundle := setup(b, Options{Discard: discard})
			ds := bundle.c.createDataset(salesModel("Sales"))
			sid := bundle.c.openSession(ds, colTable("orders", sink.Add, orderHeaders...))
			n, body := benchChunk(16 << 20)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp := bundle.c.send("PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, body, nil)
				if resp.status != http.StatusOK {
					b.Fatalf("PUT: %d %s", resp.status, resp.body)
				}
			}
			b.StopTimer()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(n), "rows/op")
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
		})
	}
}

// BenchmarkDecodeChunk measures the chunk scanner and value checks alone, on the decoded
// JSON of a 16 MB chunk.
func BenchmarkDecodeChunk(b *testing.B) {
	_, body := benchChunk(16 << 20)
	b64 := body[bytes.Index(body, []byte(`"data":"`))+8 : len(body)-2]
	data, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		b.Fatal(err)
	}
	ut := &uploadTable{
		name: "orders", column: true, pos: []int{0, 1, 2, 3}, width: 4,
		types: []sink.DataType{sink.Integer, sink.String, sink.Double, sink.BigInteger},
		names: orderHeaders,
	}
	for _, discard := range []bool{true, false} {
		b.Run(fmt.Sprintf("discard=%t", discard), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeChunk(ut, bytes.NewReader(data), discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
