package sink

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDefinitionCheck(t *testing.T) {
	def := &Definition{ID: "D1", Name: "Sales", Tables: []DefinitionTable{
		{Name: "Orders", Columns: []DefinitionColumn{
			{Name: "order_id", DataType: 1}, {Name: "Store", DataType: 33}, {Name: "amount", DataType: 6},
			{Name: "big", DataType: 35}, {Name: "day", DataType: 14}, {Name: "at", DataType: 16},
			{Name: "flag", DataType: 24}, {Name: "odd", DataType: 99}, {Name: "odd2", DataType: 99},
			{Name: "id64", DataType: 1, Precision: 8}, {Name: "id32", DataType: 1, Precision: 4},
			{Name: "id10", DataType: 1, Precision: 10}, {Name: "id19", DataType: 1, Precision: 19},
			{Name: "id9", DataType: 1, Precision: 9},
			{Name: "named", TypeName: "BigInteger"}, {Name: "shapeless", TypeName: "{\"kind\":1}"},
			{Name: "Row Count - Orders", DataType: 6},
		}},
		{Name: "stores", Columns: []DefinitionColumn{{Name: "store", DataType: 33}}},
	}}
	col := func(name string, t DataType) Column { return Column{Name: name, DataType: t} }
	tests := []struct {
		name         string
		tables       []ModelTable
		wantProblems []string // in order; nil = matches
		wantWarnings []string // substrings, in order
		wantNarrowed []NarrowedColumn
	}{
		{name: "same columns, names in other case", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("ORDER_ID", Integer), col("store", String), col("amount", Double), col("big", BigInteger),
			col("day", Date), col("at", DateTime), col("flag", Bool),
		}}}},
		{name: "subset of tables and columns", tables: []ModelTable{{Name: "stores", Columns: []Column{col("store", String)}}}},
		{name: "integers of any code and width that holds them", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("order_id", BigInteger), col("big", Integer), col("id64", BigInteger), col("id19", BigInteger),
			col("id32", Integer), col("amount", BigInteger), col("named", BigInteger),
		}}}},
		{name: "a stated width narrower than the values warns and narrows", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("id32", BigInteger), col("id10", BigInteger), col("id9", BigInteger),
		}}}, wantWarnings: []string{
			`column "id32" of table "orders" holds 32-bit integers in the dataset (data type 1 precision 4) but the push sends BIGINTEGER: a value that does not fit fails the run`,
			`column "id10" of table "orders" may hold only 32-bit integers in the dataset (data type 1 precision 10) but the push sends BIGINTEGER: the server may refuse a larger value when publishing`,
			`column "id9" of table "orders" holds 32-bit integers in the dataset (data type 1 precision 9)`,
		}, wantNarrowed: []NarrowedColumn{
			{"orders", "id32", Integer, "the dataset's column holds 32-bit integers (data type 1 precision 4)"},
			{"orders", "id9", Integer, "the dataset's column holds 32-bit integers (data type 1 precision 9)"},
		}},
		{name: "unknown codes and shapes warn once each", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("odd", String), col("odd2", Integer), col("shapeless", Date),
		}}}, wantWarnings: []string{
			`the dataset gives data type 99 for orders.odd, orders.odd2, which cubesync does not know`,
			`the dataset gives data type "{\"kind\":1}" for orders.shapeless`,
		}},
		{name: "kinds that may load warn", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("store", Integer), col("day", DateTime), col("order_id", Double),
		}}}, wantWarnings: []string{
			`column "store" of table "orders" is text (data type 33) in the dataset but the push sends INTEGER`,
			`column "day" of table "orders" is a date (data type 14) in the dataset but the push sends DATETIME`,
			`column "order_id" of table "orders" is an integer (data type 1) in the dataset but the push sends DOUBLE`,
		}},
		{name: "missing table", tables: []ModelTable{{Name: "returns", Columns: []Column{col("id", Integer)}}},
			wantProblems: []string{`table "returns" is missing (the dataset has "Orders", "stores")`}},
		{name: "missing columns", tables: []ModelTable{{Name: "orders", Columns: []Column{col("qty", Integer), col("order_id", Integer), col("note", String)}}},
			wantProblems: []string{`table "orders" has no column "qty", "note"`}},
		{name: "values that certainly cannot load", tables: []ModelTable{{Name: "orders", Columns: []Column{
			col("order_id", String), col("amount", Date), col("day", BigInteger), col("at", Bool), col("flag", Time),
		}}}, wantProblems: []string{
			`column "order_id" of table "orders" is an integer (data type 1) in the dataset but the push sends STRING, which cannot load into it`,
			`column "amount" of table "orders" is a decimal number (data type 6) in the dataset but the push sends DATE`,
			`column "day" of table "orders" is a date (data type 14) in the dataset but the push sends BIGINTEGER`,
			`column "at" of table "orders" is a datetime (data type 16) in the dataset but the push sends BOOL`,
			`column "flag" of table "orders" is a boolean (data type 24) in the dataset but the push sends TIME`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := def.Check(tt.tables)
			if rep == nil {
				t.Fatal("Check returned no report")
			}
			if len(rep.Warnings) != len(tt.wantWarnings) {
				t.Errorf("warnings = %q, want %d: %q", rep.Warnings, len(tt.wantWarnings), tt.wantWarnings)
			} else {
				for i, want := range tt.wantWarnings {
					if !strings.Contains(rep.Warnings[i], want) {
						t.Errorf("warning %d = %q, want it to contain %q", i, rep.Warnings[i], want)
					}
				}
			}
			if !slices.Equal(rep.Narrowed, tt.wantNarrowed) {
				t.Errorf("narrowed = %v, want %v", rep.Narrowed, tt.wantNarrowed)
			}
			if tt.wantProblems == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var m *MismatchError
			if !errors.As(err, &m) {
				t.Fatalf("Check = %v, want a *MismatchError", err)
			}
			if len(m.Problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %q, want %q", m.Problems, tt.wantProblems)
			}
			for i, want := range tt.wantProblems {
				if !strings.HasPrefix(m.Problems[i], want) {
					t.Errorf("problem %d = %q, want %q", i, m.Problems[i], want)
				}
			}
			if !strings.HasPrefix(err.Error(), `dataset "Sales" (id D1) does not have the tables and columns pushed: `) ||
				!strings.Contains(err.Error(), "push to a new dataset") {
				t.Errorf("error %q does not name the dataset and say what to do", err)
			}
		})
	}
}
