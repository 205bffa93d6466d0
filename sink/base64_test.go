package sink

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func FuzzEncodeBase64(f *testing.F) {
	f.Add([]byte("[[1,2,3],[\"a\"]]"))
	f.Add(bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 40))
	f.Fuzz(func(t *testing.T, src []byte) {
		src = src[:len(src)/3*3]
		want := base64.StdEncoding.EncodeToString(src)
		got := make([]byte, len(want))
		encodeBase64(got, src)
		if string(got) != want {
			t.Fatalf("encodeBase64(%q) = %s, want %s", src, got, want)
		}
	})
}

// TestEncodeBase64EveryLength checks every length up to a few loads, every byte value in
// every position.
func TestEncodeBase64EveryLength(t *testing.T) {
	src := make([]byte, 3*256)
	for i := range src {
		src[i] = byte(i*7 + i/256)
	}
	for n := 0; n <= len(src); n += 3 {
		want := base64.StdEncoding.EncodeToString(src[:n])
		got := make([]byte, len(want))
		encodeBase64(got, src[:n])
		if string(got) != want {
			t.Fatalf("%d bytes: got %s, want %s", n, got, want)
		}
	}
}
