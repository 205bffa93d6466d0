package jobs

import (
	"strconv"
	"strings"
)

// keyPath is the path of a TOML key as problems name it: key segments, and "[i]" segments
// for elements of arrays (jobs.sales.tables[1].policy).
type keyPath []string

func (p keyPath) String() string {
	var b strings.Builder
	for i, seg := range p {
		if strings.HasPrefix(seg, "[") {
			b.WriteString(seg)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(seg) {
			b.WriteString(seg)
		} else {
			b.WriteString(strconv.Quote(seg))
		}
	}
	return b.String()
}

// key returns the path of the key k under p.
func (p keyPath) key(k string) keyPath { return append(p[:len(p):len(p)], k) }

// index returns the path of the element i of the array at p.
func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], "["+strconv.Itoa(i)+"]")
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isBareKeyChar(r) {
			return false
		}
	}
	return true
}

func isBareKeyChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// keyLines maps the path of every key, table and array element of a TOML document to the
// line that defines it. The TOML decoder keeps positions to itself (and records one per
// key name, not per element of an array of tables), so this light scanner walks the text
// again. It runs only on documents the decoder accepted, so it need not diagnose anything.
func keyLines(src string) map[string]int {
	s := &lineScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	s.document()
	return s.lines
}

type lineScanner struct {
	src     string
	pos     int
	line    int
	lines   map[string]int
	arrays  map[string]int // path of an array of tables → elements seen so far
	current keyPath        // the table the following key/value pairs belong to
}

func (s *lineScanner) document() {
	for {
		s.skipBlank(true)
		if s.pos >= len(s.src) {
			return
		}
		start := s.pos
		switch {
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.pos += 2
			s.current = s.arrayHeader(s.key())
			s.skipPast("]]")
		case s.src[s.pos] == '[':
			s.pos++
			s.current = s.header(s.key())
			s.skipPast("]")
		default:
			s.keyValue(s.current)
		}
		if s.pos == start {
			s.advance() // cannot happen on valid TOML; never loop forever
		}
	}
}

// keyValue records the line of a key = value pair in table p and reads past the value.
func (s *lineScanner) keyValue(p keyPath) {
	kp := s.record(p, s.key())
	s.skipBlank(false)
	if s.peek() == '=' {
		s.pos++
		s.skipBlank(false)
		s.value(kp)
	}
}

// items reads the comma-separated items of an inline table or an array up to end, calling
// item at the start of each.
func (s *lineScanner) items(end byte, item func()) {
	for {
		s.skipBlank(true)
		switch s.peek() {
		case 0:
			return
		case end:
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start := s.pos
		item()
		if s.pos == start {
			s.advance() // cannot happen on valid TOML; never loop forever
		}
	}
}

// header resolves a [table] header: a segment naming an array of tables means its last
// element, as in TOML.
func (s *lineScanner) header(parts []string) keyPath {
	p := s.resolve(parts)
	s.mark(p)
	return p
}

func (s *lineScanner) arrayHeader(parts []string) keyPath {
	if len(parts) == 0 {
		return s.current
	}
	p := s.resolve(parts[:len(parts)-1]).key(parts[len(parts)-1])
	n := s.arrays[p.String()]
	s.arrays[p.String()] = n + 1
	p = p.index(n)
	s.mark(p)
	return p
}

func (s *lineScanner) resolve(parts []string) keyPath {
	var p keyPath
	for _, part := range parts {
		p = p.key(part)
		if n := s.arrays[p.String()]; n > 0 {
			p = p.index(n - 1)
		}
	}
	return p
}

// record notes the line of a (dotted) key under base and returns its full path.
func (s *lineScanner) record(base keyPath, parts []string) keyPath {
	p := base
	for _, part := range parts {
		p = p.key(part)
	}
	s.mark(p)
	return p
}

// mark records the current line for p and every prefix of it not seen before.
func (s *lineScanner) mark(p keyPath) {
	for i := 1; i <= len(p); i++ {
		k := p[:i].String()
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = s.line
		}
	}
}

// key reads a possibly dotted key: bare, "basic" or 'literal' segments.
func (s *lineScanner) key() []string {
	var parts []string
	for {
		s.skipBlank(false)
		switch s.peek() {
		case '"':
			start := s.pos
			s.lineString('"', true)
			if k, err := strconv.Unquote(s.src[start:s.pos]); err == nil {
				parts = append(parts, k)
			} else {
				parts = append(parts, s.src[start+1:max(start+1, s.pos-1)])
			}
		case '\'':
			start := s.pos
			s.lineString('\'', false)
			parts = append(parts, s.src[start+1:max(start+1, s.pos-1)])
		default:
			start := s.pos
			for s.pos < len(s.src) && !strings.ContainsRune(" \t\r\n=.[]#,{}\"'", rune(s.src[s.pos])) {
				s.pos++
			}
			if s.pos == start {
				return parts
			}
			parts = append(parts, s.src[start:s.pos])
		}
		s.skipBlank(false)
		if s.peek() != '.' {
			return parts
		}
		s.pos++
	}
}

// value skips one value, noting the lines of the keys and elements inside it.
func (s *lineScanner) value(p keyPath) {
	rest := s.src[s.pos:]
	switch {
	case strings.HasPrefix(rest, `"""`):
		s.multilineString(`"""`, true)
	case strings.HasPrefix(rest, "'''"):
		s.multilineString("'''", false)
	case strings.HasPrefix(rest, `"`):
		s.lineString('"', true)
	case strings.HasPrefix(rest, "'"):
		s.lineString('\'', false)
	case strings.HasPrefix(rest, "{"):
		s.pos++
		s.items('}', func() { s.keyValue(p) })
	case strings.HasPrefix(rest, "["):
		s.pos++
		i := 0
		s.items(']', func() {
			ep := p.index(i)
			s.mark(ep)
			s.value(ep)
			i++
		})
	default: // numbers, booleans, dates
		for s.pos < len(s.src) && !strings.ContainsRune(",]}\r\n#", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

// lineString reads past a one-line string quoted with quote: a basic string ("…", with
// escapes) or a literal one ('…').
func (s *lineScanner) lineString(quote byte, escapes bool) {
	s.pos++ // opening quote
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case escapes && c == '\\':
			s.pos = min(s.pos+2, len(s.src))
		case c == quote:
			s.pos++
			return
		case c == '\n':
			return
		default:
			s.pos++
		}
	}
}

func (s *lineScanner) multilineString(delim string, escapes bool) {
	s.pos += len(delim)
	for s.pos < len(s.src) {
		if escapes && s.src[s.pos] == '\\' {
			s.pos++
			s.advance()
			continue
		}
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.pos += len(delim)
			// Up to two quotes right before the delimiter belong to the string.
			for i := 0; i < 2 && s.pos < len(s.src) && s.src[s.pos] == delim[0]; i++ {
				s.pos++
			}
			return
		}
		s.advance()
	}
}

// skipBlank skips spaces and tabs, and with newlines also line breaks and comments.
func (s *lineScanner) skipBlank(newlines bool) {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r':
			s.pos++
		case '\n':
			if !newlines {
				return
			}
			s.advance()
		case '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) skipPast(delim string) {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.pos += len(delim)
			return
		}
		s.pos++
	}
}

func (s *lineScanner) advance() {
	if s.pos < len(s.src) {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

func (s *lineScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}
