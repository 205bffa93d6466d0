package sink

import (
	"errors"
	"strings"
	"testing"
)

func TestDefinitionCheck(t *testing.T) {
	def := &Definition{ID: "D1", Name: "Sales", Tables: []DefinitionTable{
		{Name: "Orders", Columns: []DefinitionColumn{
			{Name: "order_id", DataType: 1}, {Name: "Store", DataType: 33}, {Name: "amount", DataType: 6},
			{Name: "big", DataType: 35}, {Name: "day", DataType: 14}, {Name: "at", DataType: 16},
			{Name: "flag", DataType: 24}, {Name: "odd", DataType: 99},
		}},
		{Name: "stores", Columns: []DefinitionColumn{{Name: "store", DataType: 33}}},
	}}
	col := func(name string, t DataType) Column { return Column{Name: name, DataType: t} }
	tests := []struct {
		name   string
		tables []ModelTable
		want   []string // problems, in order; nil = matches
	}{
		{"same columns, names in other case", []ModelTable{{Name: "orders", Columns: []Column{
			col("ORDER_ID", Integer), col("store", String), col("amount", Double), col("big", BigInteger),
			col("day", Date), col("at", DateTime), col("flag", Bool), col("odd", String),
		}}}, nil},
		{"subset of tables and columns", []ModelTable{{Name: "stores", Columns: []Column{col("store", String)}}}, nil},
		{"integers load into decimals and big integers", []ModelTable{{Name: "orders", Columns: []Column{
			col("amount", Integer), col("big", Integer),
		}}}, nil},
		{"missing table", []ModelTable{{Name: "returns", Columns: []Column{col("id", Integer)}}},
			[]string{`table "returns" is missing (the dataset has "Orders", "stores")`}},
		{"missing columns", []ModelTable{{Name: "orders", Columns: []Column{col("qty", Integer), col("order_id", Integer), col("note", String)}}},
			[]string{`table "orders" has no column "qty", "note"`}},
		{"type drift", []ModelTable{{Name: "orders", Columns: []Column{
			col("order_id", BigInteger), col("amount", String), col("day", DateTime), col("store", Integer),
		}}}, []string{
			`column "order_id" of table "orders" is an integer (type 1) in the dataset but the job sends BIGINTEGER`,
			`column "amount" of table "orders" is a decimal number (type 6) in the dataset but the job sends STRING`,
			`column "day" of table "orders" is a date (type 14) in the dataset but the job sends DATETIME`,
			`column "store" of table "orders" is a string (type 33) in the dataset but the job sends INTEGER`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := def.Check(tt.tables)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var m *MismatchError
			if !errors.As(err, &m) {
				t.Fatalf("Check = %v, want a *MismatchError", err)
			}
			if len(m.Problems) != len(tt.want) {
				t.Fatalf("problems = %q, want %q", m.Problems, tt.want)
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(m.Problems[i], want) {
					t.Errorf("problem %d = %q, want %q", i, m.Problems[i], want)
				}
			}
			if !strings.HasPrefix(err.Error(), `dataset "Sales" (id D1) does not match the job: `) ||
				!strings.Contains(err.Error(), "never recreates a dataset") {
				t.Errorf("error %q does not name the dataset and say what to do", err)
			}
		})
	}
}
