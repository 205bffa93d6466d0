package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/sink"
)

// typesModel has one table with a column of every dataType, all metrics or attributes.
func typesModel() sink.Model {
	cols := []sink.Column{
		{Name: "s", DataType: sink.String}, {Name: "i", DataType: sink.Integer},
		{Name: "bi", DataType: sink.BigInteger}, {Name: "b", DataType: sink.Bool},
		{Name: "d", DataType: sink.Double}, {Name: "bd", DataType: sink.BigDecimal},
		{Name: "dt", DataType: sink.Date}, {Name: "tm", DataType: sink.Time},
		{Name: "ts", DataType: sink.DateTime},
	}
	m := sink.Model{Name: "Types", Tables: []sink.ModelTable{{Name: "t", Columns: cols}}}
	for _, c := range cols {
		if c.DataType.Numeric() {
			m.Metrics = append(m.Metrics, metric(c.Name, "t"))
		} else {
			m.Attributes = append(m.Attributes, attr(c.Name, "t"))
		}
	}
	return m
}

var typesHeaders = []string{"s", "i", "bi", "b", "d", "bd", "dt", "tm", "ts"}

// row builds one ROW-orientation row of typesModel with value v in column col.
func typesRow(col, v string) string {
	vals := map[string]string{"s": `"x"`, "i": `1`, "bi": `1`, "b": `true`, "d": `1.5`, "bd": `1.5`,
		"dt": `"2024-01-31"`, "tm": `"13:45:00"`, "ts": `"2024-01-31T13:45:00"`}
	vals[col] = v
	parts := make([]string, len(typesHeaders))
	for i, h := range typesHeaders {
		parts[i] = vals[h]
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestValuesAccepted(t *testing.T) {
	tests := []struct {
		col, value, stored string
	}{
		{"s", `"héllo \"quoted\" \u00e9"`, `"héllo \"quoted\" é"`},
		{"s", `""`, `""`},
		{"i", `2147483647`, `2147483647`},
		{"i", `-2147483648`, `-2147483648`},
		{"bi", `9223372036854775807`, `9223372036854775807`},
		{"bi", `-9223372036854775808`, `-9223372036854775808`},
		{"b", `false`, `false`},
		{"d", `-1.25e-7`, `-1.25e-7`},
		{"d", `0.1`, `0.1`},
		{"bd", `123456789012345678901234567890.000000000001`, `123456789012345678901234567890.000000000001`},
		{"dt", `"2024-02-29"`, `"2024-02-29"`},
		{"dt", `"2017-12-4"`, `"2017-12-04"`},
		{"tm", `"23:59:59.123456"`, `"23:59:59.123456"`},
		{"ts", `"2024-01-31T13:45:00.123456"`, `"2024-01-31T13:45:00.123456"`},
		{"ts", `"2024-01-31T13:45:00Z"`, `"2024-01-31T13:45:00Z"`},
		{"ts", `"2024-01-31T13:45:00.5+02:00"`, `"2024-01-31T13:45:00.5+02:00"`},
		{"ts", `"2024-01-31 13:45:00"`, `"2024-01-31 13:45:00"`},
		{"i", `null`, `null`},
		{"dt", `null`, `null`},
	}
	b := setup(t, Options{})
	ds := b.c.createDataset(typesModel())
	for _, tt := range tests {
		t.Run(tt.col+"="+tt.value, func(t *testing.T) {
			sid := b.c.openSession(ds, sink.SessionTable{Name: "t", UpdatePolicy: sink.Replace, ColumnHeaders: typesHeaders})
			b.c.mustPut(ds, sid, "t", 1, " [ "+typesRow(tt.col, tt.value)+" ]\n")
			b.c.mustPublish(ds, sid)
			tb, err := b.srv.Table(ds, "t")
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for i, c := range tb.Columns {
				if c.Name == tt.col {
					got, _ = json.Marshal(tb.Rows[0][i])
				}
			}
			if string(got) != tt.stored {
				t.Errorf("column %s stored %s, want %s", tt.col, got, tt.stored)
			}
		})
	}
}

func TestChunkValidation(t *testing.T) {
	rowTable := sink.SessionTable{Name: "t", UpdatePolicy: sink.Add, ColumnHeaders: typesHeaders}
	colTable := sink.SessionTable{Name: "t", UpdatePolicy: sink.Add, Orientation: "column", ColumnHeaders: typesHeaders}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	good := b64("[" + typesRow("", "") + "]")
	tests := []struct {
		name   string
		table  sink.SessionTable
		body   string // the PUT body
		status int
		code   string
		parts  []string // the message names these
	}{
		{"unknown table", rowTable, `{"tableName":"nope","index":1,"data":"` + good + `"}`, 400, "ERR006", []string{`"nope"`, "t"}},
		{"missing tableName", rowTable, `{"index":1,"data":"` + good + `"}`, 400, "ERR007", []string{"tableName"}},
		{"missing index", rowTable, `{"tableName":"t","data":"` + good + `"}`, 400, "ERR007", []string{"index"}},
		{"missing data", rowTable, `{"tableName":"t","index":1}`, 400, "ERR007", []string{"data"}},
		{"index zero", rowTable, `{"tableName":"t","index":0,"data":"` + good + `"}`, 400, "ERR006", []string{"index 0"}},
		{"index not a number", rowTable, `{"tableName":"t","index":"one","data":"` + good + `"}`, 400, "ERR006", []string{"index one"}},
		{"index fraction", rowTable, `{"tableName":"t","index":1.5,"data":"` + good + `"}`, 400, "ERR006", []string{"index 1.5"}},
		{"envelope not JSON", rowTable, `tableName=t`, 400, "ERR006", []string{"Invalid JSON"}},
		{"body cut short", rowTable, `{"tableName":"t","index":1,"data":"` + good[:8], 400, "ERR006", nil},
		{"bad base64", rowTable, `{"tableName":"t","index":1,"data":"W1s*XV0="}`, 400, "ERR006", []string{"base64"}},
		{"base64 without padding", rowTable, `{"tableName":"t","index":1,"data":"` + strings.TrimRight(b64(`[]`), "=") + `"}`, 400, "ERR006", []string{"base64"}},
		{"data not JSON", rowTable, `{"tableName":"t","index":1,"data":"` + b64(`[[1,`) + `"}`, 400, "ERR006", []string{`table "t" chunk 1`}},
		{"data not an array", rowTable, `{"tableName":"t","index":1,"data":"` + b64(`{"a":1}`) + `"}`, 400, "ERR006", []string{"array of arrays"}},
		{"trailing data", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("", "")+"] []") + `"}`, 400, "ERR006", []string{"more after"}},
		{"row too short", rowTable, `{"tableName":"t","index":2,"data":"` + b64(`[["x",1]]`) + `"}`, 400, "ERR006", []string{`table "t" chunk 2`, "row 1 has 2 values, want 9"}},
		{"row too long", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+strings.TrimSuffix(typesRow("", ""), "]")+",1]]") + `"}`, 400, "ERR006", []string{"row 1 has more than 9 values"}},
		{"nested value", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("s", `["x"]`)+"]") + `"}`, 400, "ERR006", []string{`column "s"`, "nested"}},
		{"trailing comma", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("", "")+",]") + `"}`, 400, "ERR006", []string{"Invalid JSON in data"}},
		{"leading zero", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("i", "01")+"]") + `"}`, 400, "ERR006", []string{"Invalid JSON in data"}},
		{"bad literal", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("b", "tru")+"]") + `"}`, 400, "ERR006", []string{"Invalid JSON in data"}},
		{"raw newline in a string", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("s", "\"a\nb\"")+"]") + `"}`, 400, "ERR006", []string{"control character"}},
		{"invalid UTF-8", rowTable, `{"tableName":"t","index":1,"data":"` + b64("["+typesRow("s", "\"\xff\"")+"]") + `"}`, 400, "ERR006", []string{"UTF-8"}},
		{"empty data", rowTable, `{"tableName":"t","index":1,"data":""}`, 400, "ERR006", []string{"empty"}},
		{"column count", colTable, `{"tableName":"t","index":1,"data":"` + b64(`[["x"],[1]]`) + `"}`, 400, "ERR006", []string{"2 column arrays, want 9"}},
		{"unequal columns", colTable, `{"tableName":"t","index":1,"data":"` + b64(`[["x","y"],[1]]`) + `"}`, 400, "ERR006", []string{`column "i" has 1 values`, `column "s" has 2`}},
		{"longer later column", colTable, `{"tableName":"t","index":1,"data":"` + b64(`[["x"],[1,2]]`) + `"}`, 400, "ERR006", []string{`column "i" has more values`}},
	}
	for _, v := range []struct{ col, value, want string }{
		{"s", `1`, "want a JSON string"},
		{"i", `2147483648`, "2147483648 is out of range for INTEGER"},
		{"i", `1.5`, "1.5 is not a whole number"},
		{"i", `"1"`, `want a JSON number, got the string "1"`},
		{"bi", `9223372036854775808`, "out of range for BIGINTEGER"},
		{"b", `1`, "want true or false"},
		{"b", `"true"`, "want true or false"},
		{"d", `1e999`, "out of range for DOUBLE"},
		{"d", `"NaN"`, "want a JSON number"},
		{"bd", `"1.5"`, "want a JSON number"},
		{"dt", `"2024-02-30"`, `"2024-02-30" is not an ISO 8601 date`},
		{"dt", `"01/31/2024"`, "not an ISO 8601 date"},
		{"dt", `"2024-01-31T00:00:00"`, "not an ISO 8601 date"},
		{"tm", `"1:45 PM"`, "not an ISO 8601 time"},
		{"tm", `"25:00:00"`, "not an ISO 8601 time"},
		{"ts", `"2024-01-31"`, "not an ISO 8601 timestamp"},
		{"ts", `"2024-01-31T13:45:00+2"`, "not an ISO 8601 timestamp"},
		{"ts", `"31.01.2024 13:45"`, "not an ISO 8601 timestamp"},
	} {
		tests = append(tests, struct {
			name   string
			table  sink.SessionTable
			body   string
			status int
			code   string
			parts  []string
		}{
			name: v.col + "=" + v.value, table: rowTable,
			body:   `{"tableName":"t","index":3,"data":"` + b64("["+typesRow("", "")+","+typesRow(v.col, v.value)+"]") + `"}`,
			status: 400, code: "ERR006",
			parts: []string{`table "t" chunk 3`, "row 2", `column "` + v.col + `"`, v.want},
		})
	}

	b := setup(t, Options{})
	ds := b.c.createDataset(typesModel())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := b.c.openSession(ds, tt.table)
			t.Cleanup(func() { b.c.must(http.StatusOK, "DELETE", "/api/datasets/"+ds+"/uploadSessions/"+sid, nil) })
			resp := b.c.send("PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, tt.body, nil)
			wantError(t, resp, tt.status, tt.code, tt.parts...)
		})
	}
	if st := b.srv.Stats(); st.Chunks != 0 {
		t.Errorf("Stats().Chunks = %d after only invalid chunks, want 0", st.Chunks)
	}
}

func TestModelValidation(t *testing.T) {
	long := strings.Repeat("x", 251)
	tests := []struct {
		name   string
		edit   func(m *sink.Model)
		status int
		code   string
		parts  []string
	}{
		{"bracket in dataset name", func(m *sink.Model) { m.Name = "Sales [2024]" }, 400, "ERR006", []string{`"Sales [2024]"`}},
		{"quote in column name", func(m *sink.Model) { m.Tables[0].Columns[2].Name = `am"ount` }, 400, "ERR006", []string{`am\"ount`}},
		{"backslash in table name", func(m *sink.Model) { m.Tables[1].Name = `st\ores` }, 400, "ERR006", []string{`st\\ores`}},
		{"name too long", func(m *sink.Model) { m.Name = long }, 400, "ERR006", []string{"251 characters", "250"}},
		{"unknown dataType", func(m *sink.Model) { m.Tables[0].Columns[2].DataType = "MONEY" }, 400, "ERR006", []string{`"orders"`, `"amount"`, "MONEY"}},
		{"no tables", func(m *sink.Model) { m.Tables = nil }, 400, "ERR007", []string{"no tables"}},
		{"column neither attribute nor metric", func(m *sink.Model) { m.Metrics = m.Metrics[1:] }, 400, "ERR006", []string{`"orders"`, `"amount"`, "neither"}},
		{"column both attribute and metric", func(m *sink.Model) { m.Metrics = append(m.Metrics, metric("store", "orders")) }, 400, "ERR006", []string{`"store"`, "both"}},
		{"expression on unknown table", func(m *sink.Model) { m.Metrics[0].Expressions[0].TableName = "order" }, 400, "ERR006", []string{`"order"`}},
		{"expression on unknown column", func(m *sink.Model) { m.Metrics[0].Expressions[0].ColumnName = "amt" }, 400, "ERR006", []string{`"amt"`, "amount"}},
		{"duplicate column", func(m *sink.Model) { m.Tables[0].Columns[1].Name = "order_id" }, 400, "ERR006", []string{`"order_id"`, "twice"}},
	}
	b := setup(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := salesModel("Sales")
			tt.edit(&m)
			resp := b.c.send("POST", "/api/datasets/models", m, nil)
			wantError(t, resp, tt.status, tt.code, tt.parts...)
		})
	}
	if ds := b.srv.Datasets(); len(ds) != 0 {
		t.Errorf("Datasets() = %v after only invalid models, want none", ds)
	}
	t.Run("dataTypes are case-insensitive", func(t *testing.T) {
		m := salesModel("Lower")
		for i := range m.Tables[0].Columns {
			m.Tables[0].Columns[i].DataType = sink.DataType(strings.ToLower(string(m.Tables[0].Columns[i].DataType)))
		}
		id := b.c.createDataset(m)
		tb, err := b.srv.Table(id, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if tb.Columns[3].DataType != sink.BigInteger {
			t.Errorf("column qty dataType = %q, want BIGINTEGER", tb.Columns[3].DataType)
		}
	})
}

func TestSessionValidation(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		code  string
		parts []string
	}{
		{"unknown table", `{"tables":[{"name":"order","updatePolicy":"add"}]}`, "ERR006", []string{`"order"`, "orders, stores"}},
		{"upper-case policy", `{"tables":[{"name":"orders","updatePolicy":"UPSERT"}]}`, "ERR006", []string{`"orders"`, `"UPSERT"`, "lower case"}},
		{"missing policy", `{"tables":[{"name":"orders"}]}`, "ERR007", []string{`"orders"`, "updatePolicy"}},
		{"bad orientation", `{"tables":[{"name":"orders","updatePolicy":"add","orientation":"diagonal"}]}`, "ERR006", []string{`"diagonal"`}},
		{"unknown column header", `{"tables":[{"name":"orders","updatePolicy":"add","columnHeaders":["order_id","store","amount","qty","tax"]}]}`, "ERR006", []string{`"tax"`}},
		{"missing column header", `{"tables":[{"name":"orders","updatePolicy":"add","columnHeaders":["order_id","store","amount"]}]}`, "ERR006", []string{`"qty"`}},
		{"duplicate table", `{"tables":[{"name":"orders","updatePolicy":"add"},{"name":"orders","updatePolicy":"add"}]}`, "ERR006", []string{`"orders"`, "twice"}},
		{"no tables", `{"tables":[]}`, "ERR007", []string{"no tables"}},
		{"not JSON", `tables=orders`, "ERR006", []string{"Invalid JSON"}},
	}
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.c.send("POST", "/api/datasets/"+ds+"/uploadSessions", tt.body, nil)
			wantError(t, resp, http.StatusBadRequest, tt.code, tt.parts...)
		})
	}
	if open := b.srv.OpenSessions(); len(open) != 0 {
		t.Errorf("OpenSessions = %v after only invalid sessions, want none", open)
	}
	resp := b.c.send("POST", "/api/datasets/0123456789ABCDEF0123456789ABCDEF/uploadSessions", `{"tables":[{"name":"orders","updatePolicy":"add"}]}`, nil)
	wantError(t, resp, http.StatusNotFound, "ERR004", "0123456789ABCDEF0123456789ABCDEF")
}

func TestOneSessionPerDataset(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	other := b.c.createDataset(salesModel("Other"))
	first := b.c.openSession(ds, colTable("orders", sink.Add, "order_id", "store", "amount", "qty"))
	resp := b.c.send("POST", "/api/datasets/"+ds+"/uploadSessions", map[string]any{"tables": []sink.SessionTable{colTable("stores", sink.Add, "store", "name", "area")}}, nil)
	wantError(t, resp, http.StatusConflict, "ERR006", first, "Sales")
	b.c.openSession(other, colTable("stores", sink.Add, "store", "name", "area")) // another dataset is free

	b.c.must(http.StatusOK, "DELETE", "/api/datasets/"+ds+"/uploadSessions/"+first, nil)
	second := b.c.openSession(ds, colTable("orders", sink.Add, "order_id", "store", "amount", "qty"))
	b.c.mustPublish(ds, second)
	b.c.openSession(ds, colTable("orders", sink.Add, "order_id", "store", "amount", "qty")) // a published session has ended
}
