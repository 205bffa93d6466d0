package emulator

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the kind of a scanned JSON value.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindArray  // '[' was read
	kindObject // '{' was read
)

// scanner reads the JSON of a chunk's data value by value, without building a tree. It is
// several times faster than json.Decoder.Token, which matters for 100 MB chunks.
type scanner struct {
	r   *bufio.Reader
	off int64  // bytes consumed, for error messages
	buf []byte // the last scalar's bytes: unescaped string content or number text
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 256)}
}

// syntaxError is malformed JSON in data.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("Invalid JSON in data at byte %d: %s", e.off, e.msg)
}

func (s *scanner) fail(format string, args ...any) error {
	return &syntaxError{off: s.off, msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, s.fail("unexpected end of data")
		}
		return 0, err
	}
	s.off++
	return c, nil
}

// next returns the next byte that is not JSON whitespace. At the end of the input it returns
// io.EOF as is.
func (s *scanner) next() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		s.off++
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (s *scanner) nextInData() (byte, error) {
	c, err := s.next()
	if err == io.EOF {
		return 0, s.fail("unexpected end of data")
	}
	return c, err
}

// elements reads the elements of an array whose '[' has been read, calling each with the
// first byte of every element, until the closing ']'.
func (s *scanner) elements(each func(first byte) error) error {
	c, err := s.nextInData()
	if err != nil {
		return err
	}
	if c == ']' {
		return nil
	}
	for {
		if err := each(c); err != nil {
			return err
		}
		if c, err = s.nextInData(); err != nil {
			return err
		}
		switch c {
		case ']':
			return nil
		case ',':
		default:
			return s.fail("want , or ] in an array, got %q", c)
		}
		if c, err = s.nextInData(); err != nil {
			return err
		}
		if c == ']' {
			return s.fail("trailing comma in an array")
		}
	}
}

// scalar reads the value that starts with first. For strings and numbers the value's text is
// in s.buf until the next call.
func (s *scanner) scalar(first byte) (kind, error) {
	s.buf = s.buf[:0]
	switch {
	case first == '"':
		return kindString, s.str()
	case first == '-' || (first >= '0' && first <= '9'):
		return kindNumber, s.number(first)
	case first == 't':
		return kindTrue, s.literal("rue")
	case first == 'f':
		return kindFalse, s.literal("alse")
	case first == 'n':
		return kindNull, s.literal("ull")
	case first == '[':
		return kindArray, nil
	case first == '{':
		return kindObject, nil
	}
	return 0, s.fail("invalid character %q at the start of a value", first)
}

func (s *scanner) literal(rest string) error {
	for i := range len(rest) {
		c, err := s.readByte()
		if err != nil {
			return err
		}
		if c != rest[i] {
			return s.fail("invalid literal")
		}
	}
	return nil
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// It collects the run of number characters straight from the read buffer, then checks the
// grammar on it.
func (s *scanner) number(first byte) error {
	s.buf = append(s.buf, first)
	for {
		chunk, _ := s.r.Peek(max(1, min(s.r.Buffered(), 4096)))
		i := 0
		for i < len(chunk) && numberByte(chunk[i]) {
			i++
		}
		s.buf = append(s.buf, chunk[:i]...)
		_, _ = s.r.Discard(i)
		s.off += int64(i)
		if i < len(chunk) || len(chunk) == 0 {
			break
		}
	}
	if !validNumber(s.buf) {
		return s.fail("invalid number %q", s.buf)
	}
	return nil
}

func numberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// str reads a string whose opening quote has been read, unescaping it into s.buf, and checks
// that it is valid UTF-8.
func (s *scanner) str() error {
	for {
		chunk, err := s.r.Peek(max(1, min(s.r.Buffered(), 4096)))
		if len(chunk) == 0 {
			if err == io.EOF {
				return s.fail("unexpected end of data inside a string")
			}
			return err
		}
		i := 0
		for i < len(chunk) && chunk[i] != '"' && chunk[i] != '\\' && chunk[i] >= 0x20 {
			i++
		}
		s.buf = append(s.buf, chunk[:i]...)
		_, _ = s.r.Discard(i)
		s.off += int64(i)
		if i == len(chunk) {
			continue
		}
		c, _ := s.readByte()
		switch {
		case c == '"':
			if !utf8.Valid(s.buf) {
				return s.fail("string is not valid UTF-8")
			}
			return nil
		case c < 0x20:
			return s.fail("control character %#x inside a string: escape it", c)
		}
		if err := s.escape(); err != nil {
			return err
		}
	}
}

func (s *scanner) escape() error {
	c, err := s.readByte()
	if err != nil {
		return err
	}
	switch c {
	case '"', '\\', '/':
		s.buf = append(s.buf, c)
	case 'b':
		s.buf = append(s.buf, '\b')
	case 'f':
		s.buf = append(s.buf, '\f')
	case 'n':
		s.buf = append(s.buf, '\n')
	case 'r':
		s.buf = append(s.buf, '\r')
	case 't':
		s.buf = append(s.buf, '\t')
	case 'u':
		r, err := s.hex4()
		if err != nil {
			return err
		}
		if utf16.IsSurrogate(r) {
			// A surrogate pair is two escapes; a lone half becomes U+FFFD as in encoding/json.
			if b, err := s.r.Peek(2); err == nil && b[0] == '\\' && b[1] == 'u' {
				_, _ = s.r.Discard(2)
				s.off += 2
				r2, err := s.hex4()
				if err != nil {
					return err
				}
				r = utf16.DecodeRune(r, r2)
			} else {
				r = utf8.RuneError
			}
		}
		s.buf = utf8.AppendRune(s.buf, r)
	default:
		return s.fail("invalid escape \\%c in a string", c)
	}
	return nil
}

func (s *scanner) hex4() (rune, error) {
	var h [4]byte
	for i := range h {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		h[i] = c
	}
	v, err := strconv.ParseUint(string(h[:]), 16, 16)
	if err != nil {
		return 0, s.fail("invalid \\u escape %q", h[:])
	}
	return rune(v), nil
}
