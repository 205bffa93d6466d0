package sink

// Renderers of text: strings, string views, dictionaries and UUIDs, and the JSON escaping
// they share.

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

type stringRenderer[O int32 | int64] struct{}

func (stringRenderer[O]) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	data := arr.Data()
	offs := arrow.GetOffsets[O](data, 1)
	var text []byte
	if b := data.Buffers()[2]; b != nil {
		text = b.Bytes()
	}
	v := validityOf(arr)
	if !needsEscape(text[offs[lo]:offs[hi]]) {
		for i := lo; i < hi; i++ {
			if v.null(i) {
				dst = append(dst, null...)
				continue
			}
			dst = append(dst, '"')
			dst = append(dst, text[offs[i]:offs[i+1]]...)
			dst = append(dst, '"', ',')
		}
		return dst, nil
	}
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		if s := text[offs[i]:offs[i+1]]; !needsEscape(s) {
			dst = append(dst, '"')
			dst = append(dst, s...)
			dst = append(dst, '"', ',')
			continue
		}
		dst = appendString(dst, text[offs[i]:offs[i+1]], c)
	}
	return dst, nil
}

type stringViewRenderer struct{}

func (stringViewRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	sv := arr.(*array.StringView)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		s := sv.Value(i)
		dst = appendString(dst, unsafe.Slice(unsafe.StringData(s), len(s)), c)
	}
	return dst, nil
}

// dictionaryRenderer renders dictionary<string> and dictionary<large_string> arrays with
// any index type.
type dictionaryRenderer struct{}

func (dictionaryRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	d := arr.(*array.Dictionary)
	dict := d.Dictionary()
	var text []byte
	if b := dict.Data().Buffers()[2]; b != nil {
		text = b.Bytes()
	}
	if dict.DataType().ID() == arrow.LARGE_STRING {
		return appendDictionary(dst, d, arrow.GetOffsets[int64](dict.Data(), 1), text, validityOf(dict), lo, hi, c), nil
	}
	return appendDictionary(dst, d, arrow.GetOffsets[int32](dict.Data(), 1), text, validityOf(dict), lo, hi, c), nil
}

func appendDictionary[O int32 | int64](dst []byte, d *array.Dictionary, offs []O, text []byte, dictValid validity, lo, hi int, c *counts) []byte {
	v := validityOf(d)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		j := d.GetValueIndex(i)
		if dictValid.null(j) {
			dst = append(dst, null...)
			continue
		}
		dst = appendString(dst, text[offs[j]:offs[j+1]], c)
	}
	return dst
}

// uuidRenderer renders arrow.uuid extension arrays as "01234567-89ab-cdef-0123-456789abcdef".
type uuidRenderer struct{}

func (uuidRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	storage := arr.(array.ExtensionArray).Storage().(*array.FixedSizeBinary)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		dst = append(dst, '"')
		for j, b := range storage.Value(i) {
			if j == 4 || j == 6 || j == 8 || j == 10 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
		}
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// needsEscape reports whether s has a byte that a JSON string cannot hold as it is
// (control characters, quote, backslash) or that needs UTF-8 validation (>= 0x80). It
// looks at 8 bytes at a time; a false positive only costs the slow path.
func needsEscape(s []byte) bool {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ (ones * '"')
		b := x ^ (ones * '\\')
		// (y - ones) &^ y has a high bit set where y has a zero byte; x - 0x20 per byte
		// likewise where x has a byte below 0x20; x's own high bits mark non-ASCII.
		if (x|(x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string and a comma. Each invalid UTF-8 byte becomes
// U+FFFD, and the value is counted once in c.invalidUTF8.
func appendString(dst []byte, s []byte, c *counts) []byte {
	dst = append(dst, '"')
	start := 0
	invalid := false
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			invalid = true
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript: escaped as encoding/json does.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	if invalid {
		c.invalidUTF8++
	}
	return append(dst, '"', ',')
}
