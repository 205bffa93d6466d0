package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/cubesync/cubesync/sink"
)

// dataset is one dataset (super cube): its definition and the rows of its tables as the last
// completed publish left them.
type dataset struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	FolderID    string      `json:"folderId"`
	Tables      []*table    `json:"tables"`
	Attributes  []objectRef `json:"attributes"`
	Metrics     []objectRef `json:"metrics"`
}

// objectRef is an attribute or metric as the cube definition lists it.
type objectRef struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Columns []string `json:"columns"` // "table.column" the object is built on
}

type table struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Columns []*column `json:"columns"`
	Rows    [][]any   `json:"rows"` // in column order; json.Number, string, bool or nil
}

type column struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	DataType  sink.DataType `json:"dataType"`
	Attribute bool          `json:"attribute"` // else a metric
}

func (d *dataset) table(name string) *table {
	for _, t := range d.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// withRows returns a copy of d whose tables named in rows hold those rows; d is unchanged.
func (d *dataset) withRows(rows map[string][][]any) *dataset {
	c := *d
	c.Tables = make([]*table, len(d.Tables))
	for i, t := range d.Tables {
		c.Tables[i] = t
		if r, ok := rows[t.Name]; ok {
			nt := *t
			nt.Rows = r
			c.Tables[i] = &nt
		}
	}
	return &c
}

func (d *dataset) tableNames() []string {
	names := make([]string, len(d.Tables))
	for i, t := range d.Tables {
		names[i] = t.Name
	}
	return names
}

func (t *table) column(name string) int {
	return slices.IndexFunc(t.Columns, func(c *column) bool { return c.Name == name })
}

func (t *table) columnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// attributeColumns are the positions of the columns rows are matched on.
func (t *table) attributeColumns() []int {
	var idx []int
	for i, c := range t.Columns {
		if c.Attribute {
			idx = append(idx, i)
		}
	}
	return idx
}

// maxNameLen is the longest dataset, table, column, attribute or metric name the server takes.
const maxNameLen = 250

func checkName(what, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return badInput("%s name is empty", what)
	case len([]rune(name)) > maxNameLen:
		return badInput("%s name %q is %d characters long (at most %d)", what, name, len([]rune(name)), maxNameLen)
	case strings.ContainsAny(name, `\"[]`):
		return badInput(`%s name %q contains one of the characters \ " [ ] that names must not contain`, what, name)
	}
	return nil
}

// newDataset checks a model the way the server does and builds the empty dataset it defines.
func newDataset(m *sink.Model) (*dataset, error) {
	if err := checkName("dataset", m.Name); err != nil {
		return nil, err
	}
	if len(m.Tables) == 0 {
		return nil, missingField("dataset %q has no tables", m.Name)
	}
	d := &dataset{ID: newID(), Name: m.Name, Description: m.Description, FolderID: m.FolderID}
	for i, mt := range m.Tables {
		if err := checkName(fmt.Sprintf("tables[%d]", i), mt.Name); err != nil {
			return nil, err
		}
		if d.table(mt.Name) != nil {
			return nil, badInput("table %q is defined twice", mt.Name)
		}
		if len(mt.Columns) == 0 {
			return nil, missingField("table %q has no columnHeaders", mt.Name)
		}
		t := &table{ID: newID(), Name: mt.Name}
		for _, mc := range mt.Columns {
			if err := checkName(fmt.Sprintf("table %q column", mt.Name), mc.Name); err != nil {
				return nil, err
			}
			if t.column(mc.Name) >= 0 {
				return nil, badInput("table %q: column %q is defined twice", mt.Name, mc.Name)
			}
			dt, err := sink.ParseDataType(string(mc.DataType))
			if err != nil {
				return nil, badInput("table %q column %q: %v", mt.Name, mc.Name, err)
			}
			t.Columns = append(t.Columns, &column{ID: newID(), Name: mc.Name, DataType: dt})
		}
		d.Tables = append(d.Tables, t)
	}

	// role records how each column is used, to refuse a column that is both or neither.
	role := map[[2]string]string{}
	// use resolves the column e of the attribute or metric owner (kind), claims it for kind
	// and lists it in ref's columns.
	use := func(owner, kind string, e sink.Expression, ref *objectRef) (*column, error) {
		t := d.table(e.TableName)
		if t == nil {
			return nil, badInput("%s refers to unknown table %q (tables: %s)", owner, e.TableName, strings.Join(d.tableNames(), ", "))
		}
		i := t.column(e.ColumnName)
		if i < 0 {
			return nil, badInput("%s refers to unknown column %q of table %q (columns: %s)", owner, e.ColumnName, e.TableName, strings.Join(t.columnNames(), ", "))
		}
		key := [2]string{e.TableName, e.ColumnName}
		if prev, ok := role[key]; ok && prev != kind {
			return nil, badInput("column %q of table %q is used both as an attribute and as a metric (%s): make it one or the other", e.ColumnName, e.TableName, owner)
		}
		role[key] = kind
		ref.Columns = append(ref.Columns, e.TableName+"."+e.ColumnName)
		return t.Columns[i], nil
	}
	// object checks the name of an attribute or metric (kind) and returns how messages name
	// it and its place in refs, where it is added the first time: same-name ones are merged.
	object := func(kind, name string, refs *[]objectRef, seen map[string]int) (owner string, i int, err error) {
		if err := checkName(kind, name); err != nil {
			return "", 0, err
		}
		i, ok := seen[name]
		if !ok {
			i = len(*refs)
			seen[name] = i
			*refs = append(*refs, objectRef{ID: newID(), Name: name})
		}
		return fmt.Sprintf("%s %q", kind, name), i, nil
	}
	attrs := map[string]int{}
	for _, a := range m.Attributes {
		owner, i, err := object("attribute", a.Name, &d.Attributes, attrs)
		if err != nil {
			return nil, err
		}
		if len(a.Forms) == 0 {
			return nil, missingField("%s has no attributeForms", owner)
		}
		for _, f := range a.Forms {
			if len(f.Expressions) == 0 {
				return nil, missingField("%s form %q has no expressions", owner, f.Category)
			}
			for _, e := range f.Expressions {
				c, err := use(owner, "attribute", e, &d.Attributes[i])
				if err != nil {
					return nil, err
				}
				c.Attribute = true
			}
		}
	}
	metrics := map[string]int{}
	for _, mm := range m.Metrics {
		owner, i, err := object("metric", mm.Name, &d.Metrics, metrics)
		if err != nil {
			return nil, err
		}
		if len(mm.Expressions) == 0 {
			return nil, missingField("%s has no expressions", owner)
		}
		for _, e := range mm.Expressions {
			if _, err := use(owner, "metric", e, &d.Metrics[i]); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range d.Tables {
		var loose []string
		for _, c := range t.Columns {
			if _, ok := role[[2]string{t.Name, c.Name}]; !ok {
				loose = append(loose, c.Name)
			}
		}
		if len(loose) > 0 {
			return nil, badInput("table %q: columns %s are neither attributes nor metrics: every column must appear in an attribute form or a metric expression", t.Name, quoteList(loose))
		}
		// The server adds a row count metric per table.
		d.Metrics = append(d.Metrics, objectRef{ID: newID(), Name: "Row Count - " + t.Name})
	}
	return d, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// decodeJSON reads a small JSON request body into v.
func decodeJSON(r io.Reader, v any, what string) error {
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return missingField("missing %s body", what)
		}
		return badInput("Invalid JSON in %s body: %v", what, err)
	}
	return nil
}

func (s *Server) handleModel(w http.ResponseWriter, req *request) error {
	var m sink.Model
	if err := decodeJSON(req.r.Body, &m, "dataset model"); err != nil {
		return err
	}
	d, err := newDataset(&m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, old := range s.datasets {
		if old.Name == d.Name && old.FolderID == d.FolderID {
			// Overwrite: same object, new definition, no data; its upload session is gone.
			d.ID = old.ID
			if sid, ok := s.openUpload[old.ID]; ok {
				s.endUpload(s.uploads[sid], statusCancelled, "dataset was overwritten by a new model")
			}
			s.log.Info("dataset overwritten", "dataset_id", d.ID, "dataset", d.Name)
			break
		}
	}
	s.datasets[d.ID] = d
	s.mu.Unlock()
	if err := s.persist(d.ID); err != nil {
		return err
	}
	s.log.Info("dataset created", "dataset_id", d.ID, "dataset", d.Name, "tables", len(d.Tables))
	writeJSON(w, http.StatusOK, map[string]any{"id": d.ID, "name": d.Name})
	return nil
}

// dataTypeCodes are the numeric dataTypes of the definition GET. 1, 6, 33 and 30 are
// documented; the others follow MicroStrategy's data type enum (inferred).
var dataTypeCodes = map[sink.DataType]int{
	sink.Integer:    1,
	sink.Double:     6,
	sink.String:     33,
	sink.BigDecimal: 30,
	sink.BigInteger: 35,
	sink.Bool:       24,
	sink.Date:       14,
	sink.Time:       15,
	sink.DateTime:   16,
}

// precisionScale gives plausible precision and scale per dataType (the client must not
// depend on them).
func precisionScale(t sink.DataType) (int, int) {
	switch t {
	case sink.Integer:
		return 4, 0
	case sink.BigInteger:
		return 8, 0
	case sink.Double:
		return 8, -2147483648
	case sink.BigDecimal:
		return 38, 10
	case sink.String:
		return 8000, 0
	case sink.Bool:
		return 1, 0
	}
	return 0, 0
}

// lookupDataset returns the dataset with id, under s.mu.
func (s *Server) lookupDataset(id string) (*dataset, error) {
	d, ok := s.datasets[id]
	if !ok {
		return nil, notFound("dataset %q not found: create it with POST /api/datasets/models or check the id", id)
	}
	return d, nil
}

func (s *Server) handleDefinition(w http.ResponseWriter, req *request) error {
	fields := map[string]bool{}
	for _, f := range req.r.URL.Query()["fields"] {
		for _, part := range strings.Split(f, ",") {
			if part = strings.TrimSpace(part); part != "" {
				fields[part] = true
			}
		}
	}
	all := len(fields) == 0
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(req.params["id"])
	if err != nil {
		return err
	}
	objects := map[string]any{}
	if all || fields["tables"] {
		tables := []map[string]any{}
		for _, t := range d.Tables {
			tables = append(tables, map[string]any{"id": t.ID, "name": t.Name, "type": 15})
		}
		objects["tables"] = tables
	}
	if all || fields["columns"] {
		columns := []map[string]any{}
		for _, t := range d.Tables {
			for _, c := range t.Columns {
				p, sc := precisionScale(c.DataType)
				code := dataTypeCodes[c.DataType]
				if c.DataType == sink.BigInteger && s.opts.BigIntegerAsInteger {
					code = dataTypeCodes[sink.Integer] // with precision 8
				}
				columns = append(columns, map[string]any{
					"tableId": t.ID, "tableName": t.Name, "columnId": c.ID, "columnName": c.Name,
					"dataType": code, "precision": p, "scale": sc,
				})
			}
		}
		objects["columns"] = columns
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": d.ID, "name": d.Name,
		"result": map[string]any{"definition": map[string]any{"availableObjects": objects}},
	})
	return nil
}

func (s *Server) handleCube(w http.ResponseWriter, req *request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(req.params["id"])
	if err != nil {
		return err
	}
	attrs := []map[string]any{}
	for _, a := range d.Attributes {
		attrs = append(attrs, map[string]any{
			"id": a.ID, "name": a.Name, "type": "attribute",
			"forms": []map[string]any{{"id": a.ID, "name": "ID", "dataType": "varChar", "baseFormCategory": "ID", "baseFormType": "text"}},
		})
	}
	metrics := []map[string]any{}
	for _, m := range d.Metrics {
		metrics = append(metrics, map[string]any{"id": m.ID, "name": m.Name, "type": "metric", "dataType": "double"})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": d.ID, "name": d.Name,
		"definition": map[string]any{"availableObjects": map[string]any{"attributes": attrs, "metrics": metrics}},
	})
	return nil
}
