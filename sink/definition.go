package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Definition is what an existing dataset holds, as GET /api/datasets/{id} reports it: its
// tables and their columns with the server's numeric data types.
type Definition struct {
	ID     string
	Name   string
	Tables []DefinitionTable
}

// DefinitionTable is one table of a dataset definition.
type DefinitionTable struct {
	ID      string
	Name    string
	Columns []DefinitionColumn
}

// DefinitionColumn is one column of a dataset definition. DataType is the server's numeric
// data type (1 integer, 6 double, 33 string, ...).
type DefinitionColumn struct {
	ID        string
	Name      string
	DataType  int
	Precision int
	Scale     int
}

// Definition reads the tables and columns of dataset datasetID.
func (c *Client) Definition(ctx context.Context, datasetID string) (*Definition, error) {
	op := fmt.Sprintf("read definition of dataset %s", datasetID)
	resp, err := c.do(ctx, call{
		op: op, method: http.MethodGet, path: datasetPath(datasetID),
		query: url.Values{"fields": {"tables", "columns"}},
		hint: func(e *Error) {
			switch e.Status {
			case http.StatusNotFound:
				e.Hint = "the dataset does not exist (any more) in this project: check the job's dataset.id, or clear it to have a new dataset created"
			case http.StatusForbidden:
				e.Hint = "the user may not read this dataset: ask the MicroStrategy administrator"
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var doc struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Result struct {
			Definition struct {
				AvailableObjects struct {
					Tables []struct {
						ID   string `json:"id"`
						Name string `json:"name"`
					} `json:"tables"`
					Columns []struct {
						TableID    string          `json:"tableId"`
						TableName  string          `json:"tableName"`
						ColumnID   string          `json:"columnId"`
						ColumnName string          `json:"columnName"`
						DataType   json.RawMessage `json:"dataType"`
						Precision  json.RawMessage `json:"precision"`
						Scale      json.RawMessage `json:"scale"`
					} `json:"columns"`
				} `json:"availableObjects"`
			} `json:"definition"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		return nil, fmt.Errorf("%s: the server's answer is not a dataset definition: %w", op, err)
	}
	d := &Definition{ID: cmpOr(doc.ID, datasetID), Name: doc.Name}
	objs := doc.Result.Definition.AvailableObjects
	byID := map[string]int{}
	byName := map[string]int{}
	for _, t := range objs.Tables {
		byID[t.ID] = len(d.Tables)
		byName[t.Name] = len(d.Tables)
		d.Tables = append(d.Tables, DefinitionTable{ID: t.ID, Name: t.Name})
	}
	for _, col := range objs.Columns {
		i, ok := byID[col.TableID]
		if !ok || col.TableID == "" {
			i, ok = byName[col.TableName]
		}
		if !ok {
			// A column of a table the tables list left out: keep it under its own table.
			i = len(d.Tables)
			byID[col.TableID] = i
			byName[col.TableName] = i
			d.Tables = append(d.Tables, DefinitionTable{ID: col.TableID, Name: col.TableName})
		}
		d.Tables[i].Columns = append(d.Tables[i].Columns, DefinitionColumn{
			ID: col.ColumnID, Name: col.ColumnName,
			DataType:  int(parseInt(col.DataType)),
			Precision: int(parseInt(col.Precision)),
			Scale:     int(parseInt(col.Scale)),
		})
	}
	return d, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// MismatchError is a dataset that no longer has the tables and columns a push needs.
type MismatchError struct {
	DatasetID   string
	DatasetName string
	Problems    []string // one per missing table, missing column or type mismatch
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("dataset %q (id %s) does not match the job: %s; fix the job's tables and columns to match the dataset, "+
		"or point the job's dataset.id at a new dataset (cubesync never recreates a dataset by itself: that would break the dashboards built on it)",
		e.DatasetName, e.DatasetID, strings.Join(e.Problems, "; "))
}

// Check reports whether the dataset has every table and column of tables with a data type
// the push can load, as a *MismatchError naming each problem. Columns of the dataset that the
// job does not push are fine. Names are compared case-insensitively, as the server does.
func (d *Definition) Check(tables []ModelTable) error {
	var problems []string
	for _, want := range tables {
		have := d.table(want.Name)
		if have == nil {
			problems = append(problems, fmt.Sprintf("table %q is missing (the dataset has %s)", want.Name, d.tableNames()))
			continue
		}
		var missing []string
		for _, col := range want.Columns {
			hc := have.column(col.Name)
			if hc == nil {
				missing = append(missing, fmt.Sprintf("%q", col.Name))
				continue
			}
			if ok, kind := loadable(col.DataType, hc.DataType); !ok {
				problems = append(problems, fmt.Sprintf("column %q of table %q is %s in the dataset but the job sends %s (change the column's type in the job, or cast it in the source)",
					col.Name, want.Name, kind, col.DataType))
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("table %q has no column %s", want.Name, strings.Join(missing, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &MismatchError{DatasetID: d.ID, DatasetName: d.Name, Problems: problems}
}

func (d *Definition) table(name string) *DefinitionTable {
	for i := range d.Tables {
		if strings.EqualFold(d.Tables[i].Name, name) {
			return &d.Tables[i]
		}
	}
	return nil
}

func (d *Definition) tableNames() string {
	if len(d.Tables) == 0 {
		return "no tables"
	}
	names := make([]string, len(d.Tables))
	for i, t := range d.Tables {
		names[i] = fmt.Sprintf("%q", t.Name)
	}
	return strings.Join(names, ", ")
}

func (t *DefinitionTable) column(name string) *DefinitionColumn {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

// serverTypes are the kinds of the server's numeric data types (MicroStrategy's data type
// enum) and which push dataTypes load into each without conversion. 1, 6, 7, 30 and 33 are
// documented for the definition GET; the others are the enum's values for the same kinds of
// data (the emulator uses 35, 24, 14, 15 and 16).
var serverTypes = []struct {
	name  string
	codes []int
	takes []DataType
}{
	{"an integer", []int{1, 2, 21}, []DataType{Integer}},
	{"a big integer", []int{22, 35}, []DataType{Integer, BigInteger}},
	{"a decimal number", []int{3, 4, 5, 6, 7, 30}, []DataType{Integer, BigInteger, Double, BigDecimal}},
	{"a string", []int{8, 9, 10, 17, 18, 23, 26, 33}, []DataType{String}},
	{"a boolean", []int{24}, []DataType{Bool}},
	{"a date", []int{14}, []DataType{Date}},
	{"a time", []int{15}, []DataType{Time}},
	{"a datetime", []int{16}, []DataType{DateTime}},
}

// loadable reports whether values the job sends as dataType t load into a column of server
// data type code, and names that type. Unknown codes are accepted: the check is there to
// catch a job and a dataset that drifted apart, not to second-guess a server version we
// have not seen.
func loadable(t DataType, code int) (ok bool, kind string) {
	for _, st := range serverTypes {
		if slices.Contains(st.codes, code) {
			return slices.Contains(st.takes, t), fmt.Sprintf("%s (type %d)", st.name, code)
		}
	}
	return true, fmt.Sprintf("type %d", code)
}
