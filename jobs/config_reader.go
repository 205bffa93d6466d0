package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubesync/cubesync/internal/editdist"
)

// decoder turns the decoded TOML tree into a Config, collecting every problem on the way.
type decoder struct {
	file     string // the config file as problems name it
	dir      string
	lines    map[string]int // key path → line, from keyLines
	getenv   func(string) (string, bool)
	problems []Problem
	// tableNames maps the path of each element of a tables array (jobs.sales.tables[1])
	// to the table's name, so problems with its key and columns name the table as written.
	tableNames map[string]string
	// written maps the path of every string value that held a ${VAR} reference to the
	// text as written in the file; problems show that text, never the expanded value.
	written map[string]string
	// scrubber knows the variables' values that references expanded to: problemf removes
	// them from any message as a last guard (a value may reach a message through an error).
	scrubber Scrubber
	// uses reports whether the loading command uses the key at a path; nil: every key. A
	// key it does not use may name an unset variable: that is kept in unused, not a problem.
	uses   func(key string) bool
	unused []Problem
}

// shown is how a problem quotes the value v read at p: as written in the file when it came
// from ${VAR} expansion (the variable may hold a secret put under the wrong key by
// mistake), else v itself.
func (d *decoder) shown(p keyPath, v string) string {
	if w, ok := d.written[p.String()]; ok {
		return w
	}
	return v
}

// fromEnv reports whether the value at p came from ${VAR} expansion.
func (d *decoder) fromEnv(p keyPath) bool {
	_, ok := d.written[p.String()]
	return ok
}

// line returns the line of p, or of its nearest ancestor that has one (a missing key is
// reported on the line of the table that lacks it).
func (d *decoder) line(p keyPath) int {
	for i := len(p); i > 0; i-- {
		if l, ok := d.lines[p[:i].String()]; ok {
			return l
		}
	}
	return 0
}

func (d *decoder) problemf(p keyPath, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if name := d.tableOf(p); name != "" {
		msg = fmt.Sprintf("table %q: %s", name, msg)
	}
	d.problems = append(d.problems, Problem{Path: p.String(), Line: d.line(p), Msg: d.scrubber.Scrub(msg)})
}

// tableOf is the name of the table whose key rule or column overrides p is about (its key,
// exclude or columns), or "": tables[1] alone does not tell a user which table is meant.
func (d *decoder) tableOf(p keyPath) string {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != "tables" || !strings.HasPrefix(p[i+1], "[") {
			continue
		}
		switch p[i+2] {
		case "key", "exclude", "columns":
			return d.tableNames[p[:i+2].String()]
		}
	}
	return ""
}

// tomlTable is one TOML table being read (a Table is a table of a dataset). Every key a
// reader asks for is remembered as known, present or not, so finish can report the rest as
// unknown.
type tomlTable struct {
	d     *decoder
	path  keyPath
	m     map[string]any
	known []string
}

func (t *tomlTable) lookup(key string) (any, keyPath, bool) {
	if !slices.Contains(t.known, key) {
		t.known = append(t.known, key)
	}
	v, ok := t.m[key]
	return v, t.path.key(key), ok
}

func (t *tomlTable) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// names returns the table's keys, sorted: for tables whose keys are names ([jobs.NAME]).
func (t *tomlTable) names() []string {
	return slices.Sorted(maps.Keys(t.m))
}

// missing reports that a required key is absent, saying what it wants.
func (t *tomlTable) missing(key, want string) {
	_, p, _ := t.lookup(key)
	t.d.problemf(p, "missing (want %s)", want)
}

// finish reports every key nobody asked for, in file order.
func (t *tomlTable) finish() {
	var unknown []string
	for k := range t.m {
		if !slices.Contains(t.known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.SortFunc(unknown, func(a, b string) int {
		if la, lb := t.d.line(t.path.key(a)), t.d.line(t.path.key(b)); la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	for _, k := range unknown {
		if s := closest(k, t.known); s != "" {
			t.d.problemf(t.path.key(k), "unknown key (did you mean %s?)", s)
		} else {
			t.d.problemf(t.path.key(k), "unknown key (allowed here: %s)", strings.Join(t.known, ", "))
		}
	}
}

// closest returns the known key a typo most likely meant, or "".
func closest(k string, known []string) string {
	best, bestDist := "", 3
	for _, c := range known {
		if strings.EqualFold(c, k) {
			return c
		}
		if dist := editdist.Levenshtein(strings.ToLower(k), c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// wrongType reports a value of the wrong TOML type. A secret's value is never shown.
func (d *decoder) wrongType(p keyPath, v any, want string, secret bool) {
	got := tomlType(v)
	if shown := tomlValue(v); shown != "" && !secret {
		got += " " + shown
	}
	d.problemf(p, "want %s (got %s)", want, got)
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date/time"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64, float64, bool:
		return fmt.Sprint(v)
	case time.Time:
		return tomlTime(v)
	}
	return ""
}

// tomlTime renders a TOML date/time as written: local dates and times have no zone.
func tomlTime(t time.Time) string {
	switch t.Location().String() {
	case "date-local":
		return t.Format(time.DateOnly)
	case "datetime-local":
		return t.Format(TimestampLayout)
	case "time-local":
		return t.Format("15:04:05.999999999")
	}
	return t.Format(time.RFC3339Nano)
}

// expand checks that v is a string and expands its ${VAR} references.
func (d *decoder) expand(v any, p keyPath, secret bool, want string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(p, v, want, secret)
		return "", false
	}
	if strings.Contains(s, "${") {
		if d.written == nil {
			d.written = map[string]string{}
		}
		d.written[p.String()] = s
	}
	getenv := func(name string) (string, bool) {
		v, ok := d.getenv(name)
		d.scrubber.add(name, v)
		return v, ok
	}
	out, problems, unset := expandEnv(s, getenv, secret)
	for _, m := range problems {
		d.problemf(p, "%s", m)
	}
	for _, name := range unset {
		if d.uses != nil && !d.uses(p.String()) {
			d.unused = append(d.unused, Problem{Path: p.String(), Line: d.line(p), Msg: unsetMessage(name)})
			continue
		}
		d.problemf(p, "%s", unsetMessage(name))
	}
	// A value with an unset variable is not kept, used or not: nothing can be checked of it.
	return out, len(problems) == 0 && len(unset) == 0
}

// str returns a string value with ${VAR} expanded; ok is false when the key is absent or bad.
func (t *tomlTable) str(key string) (string, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return "", false
	}
	return t.d.expand(v, p, false, "a string")
}

// secret is str for passwords and DSNs: no problem ever shows the value.
func (t *tomlTable) secret(key string) (string, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return "", false
	}
	return t.d.expand(v, p, true, "a string")
}

// scalarText returns the text of a value that may also be written as a string holding
// ${VAR} references (call_retries = "${RETRIES:-5}"), so numbers and booleans can come
// from the environment too.
func (t *tomlTable) scalarText(key, want string) (text string, native any, p keyPath, ok bool) {
	v, p, present := t.lookup(key)
	if !present {
		return "", nil, p, false
	}
	if s, isString := v.(string); isString && strings.Contains(s, "${") {
		text, ok := t.d.expand(s, p, false, want)
		return text, nil, p, ok
	}
	return "", v, p, true
}

func (t *tomlTable) integer(key string) (int64, bool) {
	text, native, p, ok := t.scalarText(key, "an integer")
	if !ok {
		return 0, false
	}
	if native == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			t.d.problemf(p, "want an integer (got %q after expanding variables)", t.d.shown(p, text))
			return 0, false
		}
		return n, true
	}
	n, isInt := native.(int64)
	if !isInt {
		t.d.wrongType(p, native, "an integer", false)
	}
	return n, isInt
}

func (t *tomlTable) boolean(key string) (bool, bool) {
	text, native, p, ok := t.scalarText(key, "true or false")
	if !ok {
		return false, false
	}
	if native == nil {
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			t.d.problemf(p, "want true or false (got %q after expanding variables)", t.d.shown(p, text))
			return false, false
		}
		return b, true
	}
	b, isBool := native.(bool)
	if !isBool {
		t.d.wrongType(p, native, "true or false", false)
	}
	return b, isBool
}

const durationWant = `a duration such as "90s", "15m" or "2h"`

func (t *tomlTable) duration(key string) (time.Duration, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return 0, false
	}
	s, ok := t.d.expand(v, p, false, durationWant)
	if !ok {
		return 0, false
	}
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		t.d.problemf(p, "invalid duration %q (want %s)", t.d.shown(p, s), durationWant)
		return 0, false
	}
	return dur, true
}

// positive reads a duration that must be greater than zero into dst.
func (t *tomlTable) positive(key string, dst *time.Duration) {
	if dur, ok := t.duration(key); ok {
		if dur <= 0 {
			t.d.problemf(t.path.key(key), "must be greater than zero (got %q)", t.d.shown(t.path.key(key), dur.String()))
			return
		}
		*dst = dur
	}
}

// intBetween reads an integer from lo to hi into dst. Out of range, the problem is
// outOfRange with the value as written in place of its %s.
func (t *tomlTable) intBetween(key string, lo, hi int64, dst *int, outOfRange string) {
	if n, ok := t.integer(key); ok {
		if n < lo || n > hi {
			t.d.problemf(t.path.key(key), outOfRange, t.d.shown(t.path.key(key), strconv.FormatInt(n, 10)))
			return
		}
		*dst = int(n)
	}
}

// nonNegative reads a duration that may be zero into dst.
func (t *tomlTable) nonNegative(key string, dst *time.Duration) {
	if dur, ok := t.duration(key); ok {
		if dur < 0 {
			t.d.problemf(t.path.key(key), "must not be negative (got %q)", t.d.shown(t.path.key(key), dur.String()))
			return
		}
		*dst = dur
	}
}

// size reads a byte size: a string with a unit, or an integer number of bytes.
func (t *tomlTable) size(key string) (int64, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return 0, false
	}
	if n, isInt := v.(int64); isInt {
		return n, true
	}
	s, ok := t.d.expand(v, p, false, `a size such as "100MB" or "64MiB"`)
	if !ok {
		return 0, false
	}
	n, err := ParseSize(s)
	if err != nil {
		if t.d.fromEnv(p) {
			// The reason is told of the text as written, not of the expanded value.
			_, err = ParseSize(t.d.shown(p, s))
		}
		t.d.problemf(p, "%v", err)
		return 0, false
	}
	return n, true
}

// list reads an array of strings, each expanded.
func (t *tomlTable) list(key string) ([]string, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return nil, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		t.d.wrongType(p, v, `an array of strings such as ["a", "b"]`, false)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		s, ok := t.d.expand(e, p.index(i), false, "a string")
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

// sub returns the table at key, written as [a.b] or as an inline { ... }.
func (t *tomlTable) sub(key string) (*tomlTable, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return nil, false
	}
	m, isTable := v.(map[string]any)
	if !isTable {
		t.d.wrongType(p, v, "a table", false)
		return nil, false
	}
	return &tomlTable{d: t.d, path: p, m: m}, true
}

// array returns the tables at key, written as [[a.b]] or as an array of inline tables.
func (t *tomlTable) array(key string) ([]*tomlTable, bool) {
	v, p, ok := t.lookup(key)
	if !ok {
		return nil, false
	}
	var maps []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		maps = v
	case []any:
		for i, e := range v {
			m, isTable := e.(map[string]any)
			if !isTable {
				t.d.wrongType(p.index(i), e, "a table", false)
				return nil, false
			}
			maps = append(maps, m)
		}
	default:
		t.d.wrongType(p, v, "an array of tables ([["+p.String()+"]])", false)
		return nil, false
	}
	out := make([]*tomlTable, len(maps))
	for i, m := range maps {
		out[i] = &tomlTable{d: t.d, path: p.index(i), m: m}
	}
	return out, true
}

// oneOf reads a string that must be one of allowed.
func (t *tomlTable) oneOf(key, what string, allowed ...string) (string, bool) {
	s, ok := t.str(key)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		t.d.problemf(t.path.key(key), "unknown %s %q (want %s)", what, t.d.shown(t.path.key(key), s), orList(allowed))
		return "", false
	}
	return s, true
}

// orList renders "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
