package emulator

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cubesync/cubesync/sink"
)

// applyPolicy returns the rows table t holds after the chunks of ut are applied with ut's
// update policy (push-api.md, "Update policies"). replace empties the table and inserts
// every incoming row, equal attribute tuples included: it matches nothing. The other
// policies match rows on the tuple of t's attribute columns; incoming rows with the same
// tuple keep the last one, at the position of the first. A table without attribute columns
// has no tuple: update and upsert append like add, and nothing is deduplicated.
func applyPolicy(t *table, ut *uploadTable) [][]any {
	incoming := ut.orderedRows()
	if ut.policy == sink.Replace {
		return incoming
	}
	attrs := t.attributeColumns()
	if len(attrs) == 0 {
		return append(cloneRows(t.Rows), incoming...)
	}
	incoming = dedupe(incoming, attrs)
	rows := cloneRows(t.Rows)
	at := make(map[string]int, len(rows))
	for i, r := range rows {
		at[tupleKey(r, attrs)] = i
	}
	for _, r := range incoming {
		i, exists := at[tupleKey(r, attrs)]
		switch {
		case exists && (ut.policy == sink.Update || ut.policy == sink.Upsert):
			rows[i] = r // the attribute values are equal: only metric values change
		case !exists && (ut.policy == sink.Add || ut.policy == sink.Upsert):
			rows = append(rows, r)
		}
	}
	return rows
}

// dedupe keeps one row per attribute tuple: the last, at the position of the first.
func dedupe(rows [][]any, attrs []int) [][]any {
	at := make(map[string]int, len(rows))
	out := rows[:0:0]
	for _, r := range rows {
		k := tupleKey(r, attrs)
		if i, ok := at[k]; ok {
			out[i] = r
			continue
		}
		at[k] = len(out)
		out = append(out, r)
	}
	return out
}

// cloneRows copies the outer slice so a publish never changes rows a reader may hold.
func cloneRows(rows [][]any) [][]any {
	return append(make([][]any, 0, len(rows)), rows...)
}

// tupleKey encodes the attribute values of a row unambiguously: each value is tagged with its
// kind and strings carry their length.
func tupleKey(row []any, attrs []int) string {
	var b strings.Builder
	for _, i := range attrs {
		switch v := row[i].(type) {
		case nil:
			b.WriteString("n;")
		case bool:
			fmt.Fprintf(&b, "b%t;", v)
		case json.Number:
			fmt.Fprintf(&b, "#%s;", v)
		case string:
			fmt.Fprintf(&b, "s%d:%s;", len(v), v)
		default:
			fmt.Fprintf(&b, "?%v;", v)
		}
	}
	return b.String()
}
