package jobs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/cubesync/cubesync/sink"
)

// Roles of a pushed column in the dataset model.
const (
	RoleAttribute = "attribute"
	RoleMetric    = "metric"
)

// tableShape is what a table pushes: its columns in order, with dataType and role, and
// where each comes from in the source's Arrow schema.
type tableShape struct {
	name    string
	columns []shapeColumn
}

type shapeColumn struct {
	sink.Column
	index int // field index in the source schema
	role  string
	// encodeAs, when set, is a narrower dataType the values are encoded as (range checked)
	// than the one the column has in the model: the dataset's column is narrower.
	encodeAs sink.DataType
	advice   string // for a value that does not fit encodeAs
}

// shapeTable works out the pushed columns of t from its source schema: exclusions removed,
// dataTypes mapped (or overridden), roles given (key columns are attributes; otherwise
// numeric → metric unless overridden), and the key rule checked.
//
// dropped names columns the source already left out (a Parquet reader skips excluded
// columns); they count as source columns for the checks.
func shapeTable(t *Table, schema *arrow.Schema, dropped []string) (*tableShape, error) {
	shape := &tableShape{name: t.Name}
	if err := t.CheckSourceColumns(append(fieldNameList(schema), dropped...)); err != nil {
		return nil, inputError(err)
	}
	var problems []error
	for i, f := range schema.Fields() {
		if slices.Contains(t.Exclude, f.Name) {
			continue
		}
		// The one type decision of every source: sink's table, overrides included, checked
		// here so that a bad one fails before the dataset is created or a session opened.
		override := t.Columns[f.Name]
		dt, err := sink.PushType(f.Type, override.Type)
		if err != nil {
			problems = append(problems, fmt.Errorf("column %q: %w", f.Name, err))
			continue
		}
		role := override.Role
		switch {
		case slices.Contains(t.Key, f.Name):
			role = RoleAttribute
		case role == "" && dt.Numeric():
			role = RoleMetric
		case role == "":
			role = RoleAttribute
		}
		shape.columns = append(shape.columns, shapeColumn{Column: sink.Column{Name: f.Name, DataType: dt}, index: i, role: role})
	}
	if len(problems) > 0 {
		return nil, inputError(joinErrors(problems))
	}
	if len(shape.columns) == 0 {
		return nil, inputError(fmt.Errorf("no column left to push (the source has %s; check exclude)", fieldNames(schema)))
	}
	cols := make([]sink.Column, len(shape.columns))
	for i, c := range shape.columns {
		cols[i] = c.Column
	}
	if err := t.CheckColumns(cols); err != nil {
		return nil, inputError(err)
	}
	return shape, nil
}

// modelTable is the table as the dataset model and definition check see it.
func (s *tableShape) modelTable() sink.ModelTable {
	mt := sink.ModelTable{Name: s.name}
	for _, c := range s.columns {
		mt.Columns = append(mt.Columns, c.Column)
	}
	return mt
}

// headers is the column order of the table's chunks.
func (s *tableShape) headers() []string {
	h := make([]string, len(s.columns))
	for i, c := range s.columns {
		h[i] = c.Name
	}
	return h
}

// encodeColumns tells the encoder which source fields to push and as what.
func (s *tableShape) encodeColumns() []sink.EncodeColumn {
	ec := make([]sink.EncodeColumn, len(s.columns))
	for i, c := range s.columns {
		ec[i] = sink.EncodeColumn{Index: c.index, Name: c.Name, Type: cmp.Or(c.encodeAs, c.DataType), Advice: c.advice}
	}
	return ec
}

// narrow encodes column name as dt from now on, so a value the dataset's narrower column
// cannot hold fails the run (naming the value, and advice on what to do) before anything
// is published.
func (s *tableShape) narrow(name string, dt sink.DataType, advice string) {
	for i := range s.columns {
		if strings.EqualFold(s.columns[i].Name, name) {
			s.columns[i].encodeAs, s.columns[i].advice = dt, advice
		}
	}
}

// linkAttributes makes a column name that is an attribute in one table an attribute in
// every replace table that has it too (a numeric store_id in a stores table becomes the
// attribute that links it to orders.store_id). Tables of other policies keep their roles,
// since there the attribute tuple decides which rows match; a name that is still an
// attribute in one table and a metric in another is an error saying how to settle it.
func linkAttributes(tables []*Table, shapes []*tableShape) error {
	attr := map[string]string{} // column name → a table where it is an attribute
	for _, s := range shapes {
		for _, c := range s.columns {
			if c.role == RoleAttribute {
				attr[c.Name] = s.name
			}
		}
	}
	var problems []error
	for i, s := range shapes {
		for j := range s.columns {
			c := &s.columns[j]
			other, ok := attr[c.Name]
			if c.role != RoleMetric || !ok {
				continue
			}
			if tables[i].Policy == sink.Replace && tables[i].Columns[c.Name].Role == "" {
				c.role = RoleAttribute
				continue
			}
			problems = append(problems, fmt.Errorf("column %q is an attribute in table %q but a metric in table %q: one name is one object of the dataset; in table %q add it to key or set columns.%s = { role = \"attribute\" }, or rename it in one table", c.Name, other, s.name, s.name, c.Name))
		}
	}
	if len(problems) > 0 {
		return inputError(joinErrors(problems))
	}
	return nil
}

// buildModel makes the dataset model of a job's tables. An attribute name shared by
// several tables becomes one attribute with an expression per table: that is what links
// the tables of a dataset. Metrics are merged the same way.
func buildModel(name, description, folderID string, shapes []*tableShape) sink.Model {
	m := sink.Model{Name: name, Description: description, FolderID: folderID}
	attrs := map[string]int{}
	metrics := map[string]int{}
	for _, s := range shapes {
		m.Tables = append(m.Tables, s.modelTable())
		for _, c := range s.columns {
			expr := sink.Expression{TableName: s.name, ColumnName: c.Name}
			if c.role == RoleMetric {
				if i, ok := metrics[c.Name]; ok {
					m.Metrics[i].Expressions = append(m.Metrics[i].Expressions, expr)
					continue
				}
				metrics[c.Name] = len(m.Metrics)
				m.Metrics = append(m.Metrics, sink.Metric{Name: c.Name, Expressions: []sink.Expression{expr}})
				continue
			}
			if i, ok := attrs[c.Name]; ok {
				f := &m.Attributes[i].Forms[0]
				f.Expressions = append(f.Expressions, expr)
				continue
			}
			attrs[c.Name] = len(m.Attributes)
			m.Attributes = append(m.Attributes, sink.Attribute{Name: c.Name, Forms: []sink.AttributeForm{{Category: "ID", Expressions: []sink.Expression{expr}}}})
		}
	}
	if m.Attributes == nil {
		m.Attributes = []sink.Attribute{}
	}
	if m.Metrics == nil {
		m.Metrics = []sink.Metric{}
	}
	return m
}

func fieldNameList(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}
