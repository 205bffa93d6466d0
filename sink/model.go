package sink

// Model is a dataset model as POSTed to /api/datasets/models.
type Model struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	FolderID    string       `json:"folderId"`
	Tables      []ModelTable `json:"tables"`
	Attributes  []Attribute  `json:"attributes"`
	Metrics     []Metric     `json:"metrics"`
}

// ModelTable is one table of a dataset model.
type ModelTable struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columnHeaders"`
}

// Column is a column of a dataset table: its name and push dataType.
type Column struct {
	Name     string   `json:"name"`
	DataType DataType `json:"dataType"`
}

// Attribute is a dataset attribute. Its ID form lists one expression per table the
// attribute appears in: that is how the tables of a dataset are linked.
type Attribute struct {
	Name  string          `json:"name"`
	Forms []AttributeForm `json:"attributeForms"`
}

// AttributeForm is one form of an attribute; cubesync only makes "ID" forms.
type AttributeForm struct {
	Category    string       `json:"category"`
	Expressions []Expression `json:"expressions"`
}

// Metric is a dataset metric over one or more table columns.
type Metric struct {
	Name        string       `json:"name"`
	Expressions []Expression `json:"expressions"`
}

// Expression points at one column of one table.
type Expression struct {
	TableName  string `json:"tableName"`
	ColumnName string `json:"columnName"`
}

// Policy is an upload session's update policy for one table.
type Policy string

// The four update policies.
const (
	Add     Policy = "add"
	Update  Policy = "update"
	Upsert  Policy = "upsert"
	Replace Policy = "replace"
)

// SessionTable is one table of an upload session: its policy and the column order of the
// chunks that will be uploaded for it.
type SessionTable struct {
	Name          string   `json:"name"`
	UpdatePolicy  Policy   `json:"updatePolicy"`
	Orientation   string   `json:"orientation,omitempty"` // "COLUMN" for cubesync's chunks
	ColumnHeaders []string `json:"columnHeaders"`
}
