package emulator

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// handlePut receives one chunk: {"tableName","index","data"}. The envelope is parsed as a
// stream and data is base64-decoded and validated while it is read, so a large chunk is never
// held as its request text, its base64 and its JSON at once. Only when data comes before
// tableName in the object is the decoded JSON buffered until the table is known.
func (s *Server) handlePut(w http.ResponseWriter, req *request) error {
	s.mu.Lock()
	u, err := s.lookupUpload(req.params["id"], req.params["sid"])
	if err == nil && (u.published || u.ended) {
		err = badInput("upload session %s is already published: open a new session to send more data", u.id)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}

	counted := &countingReader{r: req.r.Body}
	defer func() {
		s.mu.Lock()
		s.stats.BytesReceived += counted.n
		s.mu.Unlock()
	}()
	br := bufio.NewReaderSize(counted, 64<<10)
	var (
		tableName   string
		haveTable   bool
		index       int
		haveIndex   bool
		haveData    bool
		chunk       *decodedChunk
		pendingData []byte // decoded data that arrived before tableName
	)
	decodeFor := func(r io.Reader) (*decodedChunk, error) {
		ut := u.table(tableName) // u.tables is fixed once the session is open
		if ut == nil {
			return nil, badInput("table %q is not part of upload session %s (tables: %s)", tableName, u.id, strings.Join(u.tableNames(), ", "))
		}
		c, err := decodeChunk(ut, r, s.opts.Discard)
		if err != nil {
			return nil, chunkError(tableName, index, haveIndex, err)
		}
		return c, nil
	}

	p := &envelope{r: br}
	if err := p.expect('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		c, err := p.peekNonSpace()
		if err != nil {
			return err
		}
		if c == '}' && first {
			_, _ = br.ReadByte()
			break
		}
		key, err := p.smallString()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		switch key {
		case "tableName":
			v, err := p.smallString()
			if err != nil {
				return badInput("tableName must be a string: %v", err)
			}
			tableName, haveTable = v, true
		case "index":
			if index, err = p.index(); err != nil {
				return err
			}
			haveIndex = true
		case "data":
			if c, err := p.peekNonSpace(); err != nil || c != '"' {
				return badInput("data must be a string of base64")
			}
			_, _ = br.ReadByte()
			data := newBase64Reader(&stringReader{r: br})
			if haveTable {
				if chunk, err = decodeFor(data); err != nil {
					return err
				}
			} else if pendingData, err = io.ReadAll(data); err != nil {
				return dataError(err)
			}
			haveData = true
		default:
			if err := p.skipValue(); err != nil {
				return err
			}
		}
		c, err = p.nextNonSpace()
		if err != nil {
			return err
		}
		if c == '}' {
			break
		}
		if c != ',' {
			return badInput("Invalid JSON: want , or } after field %q, got %q", key, c)
		}
	}
	if c, err := p.nextNonSpace(); err != io.EOF {
		if err != nil {
			return err
		}
		return badInput("Invalid JSON: unexpected %q after the request object", c)
	}
	switch {
	case !haveTable:
		return missingField("missing field tableName")
	case !haveIndex:
		return missingField("table %q: missing field index (an integer from 1)", tableName)
	case !haveData:
		return missingField("table %q chunk %d: missing field data", tableName, index)
	}
	if chunk == nil {
		if chunk, err = decodeFor(bytes.NewReader(pendingData)); err != nil {
			return err
		}
		pendingData = nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.uploads[u.id] != u:
		return notFound("upload session %s was cancelled while the chunk was being received", u.id)
	case u.published || u.ended:
		return badInput("upload session %s was published while the chunk was being received", u.id)
	}
	u.table(tableName).chunks[index] = chunk.rows
	s.stats.Chunks++
	s.stats.RowsReceived += int64(chunk.n)
	w.WriteHeader(http.StatusOK)
	return nil
}

// chunkError names the table and chunk in a decoding error.
func chunkError(table string, index int, haveIndex bool, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		where := fmt.Sprintf("table %q", table)
		if haveIndex {
			where += fmt.Sprintf(" chunk %d", index)
		}
		ae.message = where + ": " + ae.message
		return ae
	}
	return err
}

// dataError turns a failure to read data into the answer a client can act on.
func dataError(err error) error {
	var ce base64.CorruptInputError
	var mbe *http.MaxBytesError
	var ae *apiError
	var se *syntaxError
	switch {
	case errors.As(err, &mbe), errors.As(err, &ae):
		return err
	case errors.As(err, &se):
		return badInput("%s", se.Error())
	case errors.As(err, &ce):
		return badInput("data is not valid base64 (standard alphabet, with padding): illegal byte at offset %d", int64(ce))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badInput("data is not valid base64 or the body is cut short: %v", err)
	}
	return badInput("Invalid JSON in data: %v", err)
}

// decodedChunk is one chunk's rows in dataset column order (nil when discarding).
type decodedChunk struct {
	rows [][]any
	n    int
}

// decodeChunk reads the JSON array of arrays of one chunk from r and checks every value
// against its column's dataType. With discard it keeps nothing but the row count.
func decodeChunk(ut *uploadTable, r io.Reader, discard bool) (*decodedChunk, error) {
	sc := newScanner(r)
	keep := !discard
	out := &decodedChunk{}
	k := len(ut.pos)
	c, err := sc.next()
	if err == io.EOF {
		return nil, badInput("data is empty: want a JSON array of arrays")
	}
	if err != nil {
		return nil, dataError(err)
	}
	if c != '[' {
		return nil, badInput("data must be a JSON array of arrays, got %q at its start", c)
	}
	// value reads one value of column position i, row rowNo (1-based).
	value := func(first byte, i, rowNo int) (any, error) {
		kd, err := sc.scalar(first)
		if err != nil {
			return nil, err
		}
		if kd == kindArray || kd == kindObject {
			return nil, badInput("row %d column %q: nested arrays and objects are not values", rowNo, ut.names[i])
		}
		v, err := checkValue(ut.types[i], kd, sc.buf, keep)
		if err != nil {
			return nil, badInput("row %d column %q (%s): %v", rowNo, ut.names[i], ut.types[i], err)
		}
		return v, nil
	}
	if !ut.column {
		err = sc.elements(func(first byte) error {
			rowNo := out.n + 1
			if first != '[' {
				return badInput("row %d must be an array of %d values (ROW orientation), got %q", rowNo, k, first)
			}
			var row []any
			if keep {
				row = make([]any, ut.width)
			}
			i := 0
			err := sc.elements(func(first byte) error {
				if i == k {
					return badInput("row %d has more than %d values (columns: %s)", rowNo, k, strings.Join(ut.names, ", "))
				}
				v, err := value(first, i, rowNo)
				if err != nil {
					return err
				}
				if keep {
					row[ut.pos[i]] = v
				}
				i++
				return nil
			})
			if err != nil {
				return err
			}
			if i != k {
				return badInput("row %d has %d values, want %d (columns: %s)", rowNo, i, k, strings.Join(ut.names, ", "))
			}
			if keep {
				out.rows = append(out.rows, row)
			}
			out.n++
			return nil
		})
	} else {
		ci := 0
		err = sc.elements(func(first byte) error {
			if ci == k {
				return badInput("data has more than %d column arrays (columns: %s)", k, strings.Join(ut.names, ", "))
			}
			if first != '[' {
				return badInput("column %q must be an array of values (COLUMN orientation), got %q", ut.names[ci], first)
			}
			n := 0
			err := sc.elements(func(first byte) error {
				if ci > 0 && n == out.n {
					return badInput("column %q has more values than column %q (%d): every column array must have the same length", ut.names[ci], ut.names[0], out.n)
				}
				v, err := value(first, ci, n+1)
				if err != nil {
					return err
				}
				if keep {
					if ci == 0 {
						out.rows = append(out.rows, make([]any, ut.width))
					}
					out.rows[n][ut.pos[ci]] = v
				}
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if ci == 0 {
				out.n = n
			} else if n != out.n {
				return badInput("column %q has %d values, column %q has %d: every column array must have the same length", ut.names[ci], n, ut.names[0], out.n)
			}
			ci++
			return nil
		})
		if err == nil && ci != k {
			err = badInput("data has %d column arrays, want %d (columns: %s)", ci, k, strings.Join(ut.names, ", "))
		}
	}
	if err != nil {
		return nil, dataError(err)
	}
	if c, err := sc.next(); err != io.EOF {
		if err != nil {
			return nil, dataError(err)
		}
		return nil, badInput("Invalid JSON: data has more after its array of arrays (%q)", c)
	}
	return out, nil
}

// envelope parses the small JSON object around a chunk's data.
type envelope struct{ r *bufio.Reader }

func (p *envelope) nextNonSpace() (byte, error) {
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (p *envelope) peekNonSpace() (byte, error) {
	c, err := p.nextNonSpace()
	if err != nil {
		return 0, truncated(err)
	}
	return c, p.r.UnreadByte()
}

func truncated(err error) error {
	if err == io.EOF {
		return badInput("Invalid JSON: the request body ends too early")
	}
	return err
}

func (p *envelope) expect(want byte) error {
	c, err := p.nextNonSpace()
	if err != nil {
		return truncated(err)
	}
	if c != want {
		return badInput("Invalid JSON: want %q in the request body, got %q", want, c)
	}
	return nil
}

// maxSmallString bounds field names and tableName.
const maxSmallString = 4096

// smallString reads a JSON string that is not data (a field name, tableName).
func (p *envelope) smallString() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(&stringReader{r: p.r}, maxSmallString+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSmallString {
		return "", badInput("Invalid JSON: a string in the request body is longer than %d bytes", maxSmallString)
	}
	if !utf8.Valid(b) {
		return "", badInput("Invalid JSON: a string in the request body is not valid UTF-8")
	}
	return string(b), nil
}

// index reads the chunk index: an integer, or a numeric string as some clients send it.
func (p *envelope) index() (int, error) {
	c, err := p.peekNonSpace()
	if err != nil {
		return 0, err
	}
	var text string
	if c == '"' {
		if text, err = p.smallString(); err != nil {
			return 0, err
		}
	} else {
		var b []byte
		for {
			c, err := p.r.ReadByte()
			if err != nil {
				return 0, truncated(err)
			}
			if c == ',' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				_ = p.r.UnreadByte()
				break
			}
			if len(b) > 32 {
				return 0, badInput("invalid index %s…: want an integer from 1", b)
			}
			b = append(b, c)
		}
		text = string(b)
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 {
		return 0, badInput("invalid index %s: want an integer from 1", text)
	}
	return n, nil
}

// skipValue reads past one JSON value of a field the emulator does not use.
func (p *envelope) skipValue() error {
	depth := 0
	for {
		c, err := p.nextNonSpace()
		if err != nil {
			return truncated(err)
		}
		switch c {
		case '"':
			if _, err := io.Copy(io.Discard, &stringReader{r: p.r}); err != nil {
				return err
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		default:
			// a number or literal: read to its end
			for {
				c, err := p.r.ReadByte()
				if err != nil {
					return truncated(err)
				}
				if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
					_ = p.r.UnreadByte()
					break
				}
			}
		}
		if depth == 0 {
			return nil
		}
		if depth < 0 {
			return badInput("Invalid JSON: unbalanced brackets in the request body")
		}
		// inside a container: commas and colons are just separators
		if c, err := p.peekNonSpace(); err == nil && (c == ',' || c == ':') {
			_, _ = p.r.ReadByte()
		}
	}
}

// quoteOrBackslash is bytes.IndexAny(b, `"\`) done with two vectorised IndexByte scans:
// IndexAny's byte-by-byte loop over the base64 text was a fifth of the emulator's CPU time.
func quoteOrBackslash(b []byte) int {
	q := bytes.IndexByte(b, '"')
	end := q
	if q < 0 {
		end = len(b)
	}
	if bs := bytes.IndexByte(b[:end], '\\'); bs >= 0 {
		return bs
	}
	return q
}

// stringReader yields the unescaped bytes of a JSON string whose opening quote has been read,
// and io.EOF at its closing quote.
type stringReader struct {
	r       *bufio.Reader
	done    bool
	pending []byte // the rest of an escaped rune that did not fit the caller's buffer
}

func (s *stringReader) Read(p []byte) (int, error) {
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	if len(s.pending) > 0 {
		return n, nil
	}
	if s.done {
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	for n < len(p) {
		if n > 0 && s.r.Buffered() == 0 {
			break // hand over what we have rather than block
		}
		buf, err := s.r.Peek(1)
		if err != nil {
			if err == io.EOF {
				err = badInput("Invalid JSON: the request body ends inside a string")
			}
			return n, err
		}
		avail := s.r.Buffered()
		buf, _ = s.r.Peek(min(avail, len(p)-n))
		stop := quoteOrBackslash(buf)
		if stop < 0 {
			n += copy(p[n:], buf)
			_, _ = s.r.Discard(len(buf))
			continue
		}
		n += copy(p[n:], buf[:stop])
		_, _ = s.r.Discard(stop)
		c, _ := s.r.ReadByte()
		if c == '"' {
			s.done = true
			return n, nil
		}
		r, err := s.escape()
		if err != nil {
			return n, err
		}
		var enc [utf8.UTFMax]byte
		w := utf8.EncodeRune(enc[:], r)
		c2 := copy(p[n:], enc[:w])
		n += c2
		s.pending = append(s.pending, enc[c2:w]...)
		if len(s.pending) > 0 {
			return n, nil
		}
	}
	return n, nil
}

func (s *stringReader) escape() (rune, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		return 0, badInput("Invalid JSON: the request body ends inside a string")
	}
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		var hex [4]byte
		if _, err := io.ReadFull(s.r, hex[:]); err != nil {
			return 0, badInput("Invalid JSON: bad \\u escape in a string")
		}
		v, err := strconv.ParseUint(string(hex[:]), 16, 16)
		if err != nil {
			return 0, badInput("Invalid JSON: bad \\u escape %q in a string", hex[:])
		}
		return rune(v), nil
	}
	return 0, badInput("Invalid JSON: bad escape \\%c in a string", c)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
