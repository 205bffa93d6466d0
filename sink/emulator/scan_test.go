package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"unicode/utf8"
)

// walk reads one JSON value (scalars and arrays) with the scanner, as decodeChunk does.
func walk(sc *scanner, first byte) error {
	k, err := sc.scalar(first)
	if err != nil {
		return err
	}
	if k == kindArray {
		return sc.elements(func(first byte) error { return walk(sc, first) })
	}
	return nil
}

func scanValid(data []byte) bool {
	sc := newScanner(bytes.NewReader(data))
	c, err := sc.next()
	if err != nil || walk(sc, c) != nil {
		return false
	}
	_, err = sc.next()
	return err == io.EOF
}

// FuzzScanner checks that the chunk scanner accepts exactly the JSON that encoding/json
// accepts (objects aside, which chunks never hold) and reads strings and numbers the same way.
func FuzzScanner(f *testing.F) {
	for _, seed := range []string{
		`[[1,"a",true,null],[-0.5e+3,"\u00e9\ud83d\ude00",false]]`,
		`[]`, `[[]]`, ` [ 1 , 2 ] `, `[01]`, `[1,]`, `["a\nb"]`, `["\x"]`, `[1e]`, `[-]`, `["\ud800"]`,
		"[\"\xff\"]", `[tru]`, `[1.]`, `[.5]`, `[1E+9,2e-9]`, `"x"`, `[[1]] [`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.ContainsAny(data, "{}") || !utf8.Valid(data) {
			return // chunks hold no objects; the scanner refuses invalid UTF-8 where json.Valid does not
		}
		want := json.Valid(data)
		got := scanValid(data)
		if got != want {
			t.Fatalf("scanner valid = %v, encoding/json valid = %v for %q", got, want, data)
		}
		if !want {
			return
		}
		// Strings must read as encoding/json reads them.
		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if s, ok := v.(string); ok {
			sc := newScanner(bytes.NewReader(data))
			c, _ := sc.next()
			if _, err := sc.scalar(c); err == nil && string(sc.buf) != s {
				t.Fatalf("scanner read %q, encoding/json %q", sc.buf, s)
			}
		}
	})
}
