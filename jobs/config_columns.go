package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cubesync/cubesync/sink"
)

// CheckSourceColumns checks the column names a table's config refers to against the
// columns its source yields (before exclude): every exclude, column override and the
// incremental column must exist. Call it once the source's schema is known, before
// CheckColumns. Its errors name the columns; the caller names the table.
func (t *Table) CheckSourceColumns(names []string) error {
	var problems []string
	var unknown []string
	for _, c := range t.Exclude {
		if !slices.Contains(names, c) {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("exclude names %s, which the source does not have", quoteList(unknown)))
	}
	unknown = unknown[:0]
	for _, c := range slices.Sorted(maps.Keys(t.Columns)) {
		if !slices.Contains(names, c) {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("columns overrides %s, which the source does not have", quoteList(unknown)))
	}
	if inc := t.Incremental; inc != nil && inc.Column != "" && !slices.Contains(names, inc.Column) {
		problems = append(problems, fmt.Sprintf("incremental.column %q is not a column of the source", inc.Column))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s (the source has %s)", strings.Join(problems, "; "), strings.Join(names, ", "))
}

// CheckColumns applies the key rule to the columns a table pushes (after exclude, with
// their dataTypes after type overrides), before anything is pushed. For update and upsert
// the server matches rows on the tuple of attribute columns and updates only metrics, so
// every key column must be pushed and every other column must be numeric: a text or date
// column outside the key would turn each change into a new row. A metric role on a
// non-numeric column is refused for every policy. Its errors name the columns, all on one
// line; the caller names the table.
func (t *Table) CheckColumns(cols []sink.Column) error {
	var errs []error
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	var missing []string
	for _, k := range t.Key {
		if !slices.Contains(names, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("key %s not among the pushed columns (%s)", quoteList(missing), strings.Join(names, ", ")))
	}
	var unknown []string
	for _, c := range slices.Sorted(maps.Keys(t.Columns)) {
		if !slices.Contains(names, c) {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("columns overrides %s, which are not among the pushed columns (%s)", quoteList(unknown), strings.Join(names, ", ")))
	}
	var offending []string
	for _, c := range cols {
		o := t.Columns[c.Name]
		if o.Role == "metric" && !c.DataType.Numeric() {
			errs = append(errs, fmt.Errorf("column %q is %s, and role = \"metric\" needs a numeric column: set its type to INTEGER, BIGINTEGER, DOUBLE or BIGDECIMAL, or remove the role", c.Name, c.DataType))
			continue
		}
		if (t.Policy == sink.Update || t.Policy == sink.Upsert) && !slices.Contains(t.Key, c.Name) && !c.DataType.Numeric() {
			offending = append(offending, fmt.Sprintf("%q (%s)", c.Name, c.DataType))
		}
	}
	if len(offending) > 0 {
		it := "it"
		if len(offending) > 1 {
			it = "them"
		}
		errs = append(errs, fmt.Errorf("policy %q matches rows on the key columns and updates only numeric metrics, but %s outside key %s not numeric, so a change there would add a new row instead of updating one: add %s to key, exclude %s, or use policy = \"replace\"",
			t.Policy, strings.Join(offending, ", "), isAre(len(offending)), it, it))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinErrors(errs)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
