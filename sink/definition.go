package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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

// DefinitionColumn is one column of a dataset definition as the server describes it.
// DataType is the server's numeric data type code (1 integer, 6 double, 33 string, ...),
// or 0 when the server gave none or gave a name instead (TypeName). Precision is 0 when
// the server gave none.
type DefinitionColumn struct {
	ID        string
	Name      string
	DataType  int
	TypeName  string // the dataType as the server spelled it when it was not a number
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
				e.Hint = "the dataset does not exist (any more) in this project"
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
		dc := DefinitionColumn{
			ID: col.ColumnID, Name: col.ColumnName,
			Precision: int(parseInt(col.Precision)),
			Scale:     int(parseInt(col.Scale)),
		}
		if code, ok := parseCode(col.DataType); ok {
			dc.DataType = code
		} else {
			dc.TypeName = oneLine(strings.Trim(string(col.DataType), `"`))
		}
		d.Tables[i].Columns = append(d.Tables[i].Columns, dc)
	}
	return d, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseCode reads a numeric data type code given as a JSON number or numeric string.
func parseCode(raw json.RawMessage) (int, bool) {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// MismatchError is a dataset that no longer has the tables and columns a push needs.
type MismatchError struct {
	DatasetID   string
	DatasetName string
	Problems    []string // one per missing table, missing column or column whose values cannot load
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("dataset %q (id %s) does not have the tables and columns pushed: %s; push tables and columns that match it, "+
		"or push to a new dataset (recreating it would break the dashboards built on it)",
		e.DatasetName, e.DatasetID, strings.Join(e.Problems, "; "))
}

// CheckReport is what Check found that does not stop the push.
type CheckReport struct {
	// Warnings name each column whose dataset type differs from what the push sends in a
	// way that may still load, and each data type code or shape Check does not know, once.
	Warnings []string
	// Narrowed lists the columns the push sends as BIGINTEGER into a dataset column that
	// holds 32-bit integers at most: push them as INTEGER, so a value that does not fit
	// fails the run (naming the value) before anything is published.
	Narrowed []NarrowedColumn
}

// NarrowedColumn is a column to push with a narrower dataType than the one it was given, to fit the dataset's column.
type NarrowedColumn struct {
	Table, Column string
	DataType      DataType
	// Reason says what the dataset states about the column, for the error of a value
	// that does not fit: "the dataset's column holds 32-bit integers (data type 1 precision 4)".
	Reason string
}

// Check compares the dataset with the tables a push sends, by kind of value (integer,
// decimal number, text, boolean, date, time, datetime) and never by a guessed type code:
// servers code one kind in several ways (a BIGINTEGER column may come back as integer
// code 1 with precision 8, or as a 64-bit code of the server's own).
//
// It fails, with a *MismatchError naming each problem, only when a table or column is
// missing or a column's values certainly cannot load (text into a number, a number into a
// date). Everything else that differs is a warning in the report: an integer column whose
// stated width is narrower than the pushed values may be (those columns are also listed in
// Narrowed), a number into a text column, a date into a datetime, and data type codes or
// shapes Check does not know. Columns of the dataset that are not pushed are fine.
// Names are compared case-insensitively, as the server does.
func (d *Definition) Check(tables []ModelTable) (*CheckReport, error) {
	rep := &CheckReport{}
	var problems []string
	unknown := map[string][]string{} // unknown code or shape → columns, for one warning each
	var unknownOrder []string
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
			where := fmt.Sprintf("column %q of table %q", col.Name, want.Name)
			k, known := hc.kind()
			if !known {
				desc := hc.describe()
				if _, seen := unknown[desc]; !seen {
					unknownOrder = append(unknownOrder, desc)
				}
				unknown[desc] = append(unknown[desc], fmt.Sprintf("%s.%s", want.Name, col.Name))
				continue
			}
			switch fit := k.takes(col.DataType); fit {
			case fitNo:
				problems = append(problems, fmt.Sprintf("%s is %s (%s) in the dataset but the push sends %s, which cannot load into it (push it as another type, or cast it in the source)",
					where, k, hc.describe(), col.DataType))
			case fitMaybe:
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is %s (%s) in the dataset but the push sends %s: the server may refuse or convert the values",
					where, k, hc.describe(), col.DataType))
			case fitYes:
				if k != kindInteger {
					break
				}
				bits, certain := hc.integerBits()
				if bits == 0 || bits >= col.DataType.bits() {
					break
				}
				if !certain {
					// SQL's int is precision 10, but 10 digits also hold values past 32 bits:
					// say so, and leave it to the server.
					rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s may hold only %d-bit integers in the dataset (%s) but the push sends %s: the server may refuse a larger value when publishing",
						where, bits, hc.describe(), col.DataType))
					break
				}
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s holds %d-bit integers in the dataset (%s) but the push sends %s: a value that does not fit fails the run",
					where, bits, hc.describe(), col.DataType))
				if col.DataType == BigInteger {
					rep.Narrowed = append(rep.Narrowed, NarrowedColumn{Table: want.Name, Column: col.Name, DataType: Integer,
						Reason: fmt.Sprintf("the dataset's column holds %d-bit integers (%s)", bits, hc.describe())})
				}
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("table %q has no column %s", want.Name, strings.Join(missing, ", ")))
		}
	}
	for _, desc := range unknownOrder {
		cols := unknown[desc]
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the dataset gives %s for %s, which cubesync does not know: not checked, the push goes ahead",
			desc, strings.Join(cols, ", ")))
	}
	if len(problems) > 0 {
		return rep, &MismatchError{DatasetID: d.ID, DatasetName: d.Name, Problems: problems}
	}
	return rep, nil
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

// valueKind is the kind of value a column holds, which is what decides whether values load.
type valueKind int

const (
	kindInteger valueKind = iota + 1
	kindDecimal
	kindText
	kindBool
	kindDate
	kindTime
	kindDateTime
)

func (k valueKind) String() string {
	switch k {
	case kindInteger:
		return "an integer"
	case kindDecimal:
		return "a decimal number"
	case kindText:
		return "text"
	case kindBool:
		return "a boolean"
	case kindDate:
		return "a date"
	case kindTime:
		return "a time"
	case kindDateTime:
		return "a datetime"
	}
	return "unknown"
}

// kindOf is the kind of value a push dataType sends.
func kindOf(t DataType) valueKind {
	switch t {
	case Integer, BigInteger:
		return kindInteger
	case Double, BigDecimal:
		return kindDecimal
	case String:
		return kindText
	case Bool:
		return kindBool
	case Date:
		return kindDate
	case Time:
		return kindTime
	case DateTime:
		return kindDateTime
	}
	return 0
}

// bits is the width of the integers a dataType sends; 0 for other types.
func (t DataType) bits() int {
	switch t {
	case Integer:
		return 32
	case BigInteger:
		return 64
	}
	return 0
}

// fit is how sure it is that values of one kind load into a column of another.
type fit int

const (
	fitYes   fit = iota // the same kind, or a kind the column takes as it is (integer into decimal)
	fitMaybe            // a server may convert them, or refuse them: warn
	fitNo               // certainly refused: numbers into dates, text or dates into numbers
)

// takes says whether values pushed as t load into a column of kind k.
func (k valueKind) takes(t DataType) fit {
	v := kindOf(t)
	number := func(k valueKind) bool { return k == kindInteger || k == kindDecimal }
	temporal := func(k valueKind) bool { return k == kindDate || k == kindTime || k == kindDateTime }
	switch {
	case v == k, k == kindDecimal && v == kindInteger:
		return fitYes
	case number(k) && (v == kindText || temporal(v)):
		return fitNo // JSON strings into a number column
	case temporal(k) && (number(v) || v == kindBool):
		return fitNo // JSON numbers or booleans into a date, time or datetime column
	case k == kindBool && temporal(v):
		return fitNo
	}
	return fitMaybe
}

// serverCodes are MicroStrategy's data type codes by kind of value. 1, 6, 7, 30 and 33 are
// the codes documented for the definition GET; the others are the same enum's values for
// the same kinds (servers code a 64-bit integer as 1 with precision 8, or as 22 or 35).
var serverCodes = map[int]valueKind{
	1: kindInteger, 2: kindInteger, 21: kindInteger, 22: kindInteger, 35: kindInteger,
	3: kindDecimal, 4: kindDecimal, 5: kindDecimal, 6: kindDecimal, 7: kindDecimal, 30: kindDecimal,
	8: kindText, 9: kindText, 10: kindText, 17: kindText, 18: kindText, 23: kindText, 26: kindText, 33: kindText,
	24: kindBool,
	14: kindDate,
	15: kindTime,
	16: kindDateTime,
}

// serverTypeNames are data types some servers give by name rather than by code, lower case.
var serverTypeNames = map[string]valueKind{
	"integer": kindInteger, "int": kindInteger, "biginteger": kindInteger, "bigint": kindInteger, "long": kindInteger,
	"shortint": kindInteger, "int64": kindInteger, "unsigned": kindInteger,
	"double": kindDecimal, "float": kindDecimal, "real": kindDecimal, "numeric": kindDecimal, "decimal": kindDecimal,
	"bigdecimal": kindDecimal,
	"string":     kindText, "char": kindText, "varchar": kindText, "longvarchar": kindText, "nchar": kindText,
	"nvarchar": kindText, "utf8char": kindText, "text": kindText,
	"bool": kindBool, "boolean": kindBool,
	"date": kindDate, "time": kindTime, "datetime": kindDateTime, "timestamp": kindDateTime,
}

// kind is the kind of value the column holds, and whether the server's description of it
// is one Check knows.
func (c *DefinitionColumn) kind() (valueKind, bool) {
	if c.TypeName != "" {
		k, ok := serverTypeNames[strings.ToLower(c.TypeName)]
		return k, ok
	}
	k, ok := serverCodes[c.DataType]
	return k, ok
}

// describe names the column's data type as the server gave it.
func (c *DefinitionColumn) describe() string {
	var s string
	switch {
	case c.TypeName != "":
		s = fmt.Sprintf("data type %q", c.TypeName)
	case c.DataType == 0:
		s = "no data type"
	default:
		s = fmt.Sprintf("data type %d", c.DataType)
	}
	if c.Precision != 0 {
		s += fmt.Sprintf(" precision %d", c.Precision)
	}
	return s
}

// integerBits is the width of the integers an integer column holds as its precision
// states it, or 0 when it states none. Servers give the width in bytes (4, 8) or in
// decimal digits (10, 19). certain is false when the column may hold more than bits: 10
// digits is SQL's precision of a 32-bit int, but also holds values up to 9999999999.
func (c *DefinitionColumn) integerBits() (bits int, certain bool) {
	p := c.Precision
	switch {
	case p <= 0:
		return 0, false
	case p == 1 || p == 2 || p == 4 || p == 8:
		return p * 8, true // bytes
	case p == 3:
		return 16, true // digits from here on: 999 fits 16 bits
	case p <= 9:
		return 32, true
	case p == 10:
		return 32, false
	case p <= 18:
		return 64, true
	}
	return 0, false // 19 digits and more hold any 64-bit value
}
