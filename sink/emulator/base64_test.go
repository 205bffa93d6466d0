package emulator

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBase64Reader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	wrap := func(s string, every int) string {
		var b strings.Builder
		for i := 0; i < len(s); i += every {
			b.WriteString(s[i:min(i+every, len(s))])
			b.WriteString("\r\n")
		}
		return b.String()
	}
	tests := []struct {
		name   string
		data   []byte
		encode func(string) string
		reader func(io.Reader) io.Reader
	}{
		{"empty", nil, nil, nil},
		{"one byte", payload(1), nil, nil},
		{"two bytes", payload(2), nil, nil},
		{"several blocks", payload(3*base64Block + 5), nil, nil},
		{"one byte per read", payload(10_000), nil, iotest.OneByteReader},
		{"half reads", payload(base64Block + 7), nil, iotest.HalfReader},
		{"MIME line breaks", payload(100_000), func(s string) string { return wrap(s, 76) }, nil},
		{"line breaks inside quanta", payload(5_000), func(s string) string { return wrap(s, 7) }, iotest.HalfReader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := base64.StdEncoding.EncodeToString(tt.data)
			if tt.encode != nil {
				text = tt.encode(text)
			}
			var r io.Reader = strings.NewReader(text)
			if tt.reader != nil {
				r = tt.reader(r)
			}
			got, err := io.ReadAll(newBase64Reader(r))
			if err != nil {
				t.Fatalf("decode %d bytes of base64: %v", len(text), err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("decoded %d bytes, want the %d encoded (first difference at %d)", len(got), len(tt.data), firstDiff(got, tt.data))
			}
		})
	}
}

func TestBase64ReaderErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("cubesync"), 20_000)) // 213,336 characters
	t.Run("illegal byte far in", func(t *testing.T) {
		bad := []byte(good)
		bad[150_001] = '*'
		_, err := io.ReadAll(newBase64Reader(bytes.NewReader(bad)))
		var ce base64.CorruptInputError
		if !errors.As(err, &ce) || int64(ce) != 150_001 {
			t.Errorf("decode with an illegal byte at offset 150001: err = %v, want CorruptInputError(150001)", err)
		}
	})
	t.Run("cut short", func(t *testing.T) {
		_, err := io.ReadAll(newBase64Reader(strings.NewReader(good[:len(good)-2])))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("decode of base64 cut inside a quantum: err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := io.ReadAll(newBase64Reader(io.MultiReader(strings.NewReader(good[:1000]), iotest.ErrReader(boom))))
		if !errors.Is(err, boom) {
			t.Errorf("decode from a failing reader: err = %v, want its error", err)
		}
	})
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestQuoteOrBackslash(t *testing.T) {
	for _, s := range []string{"", "abc", `abc"def`, `ab\c"d`, `ab"c\d`, `\`, `"`, strings.Repeat("A", 70) + `\/` + strings.Repeat("B", 70) + `"`} {
		if got, want := quoteOrBackslash([]byte(s)), strings.IndexAny(s, `"\`); got != want {
			t.Errorf("quoteOrBackslash(%q) = %d, want %d", s, got, want)
		}
	}
}
