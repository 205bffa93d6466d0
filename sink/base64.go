package sink

import (
	"encoding/base64"
	"encoding/binary"
)

// base64Pairs maps every 12-bit value to the two characters of standard base64 that
// encode it, first character in the low byte.
var base64Pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = uint16(alphabet[i>>6]) | uint16(alphabet[i&63])<<8
	}
	return t
}()

// encodeBase64 writes the standard base64 of src, whose length is a multiple of 3, to
// dst, which must hold len(src)/3*4 bytes. It gives the same bytes as
// base64.StdEncoding.Encode, twice as fast or more: 6 bytes are loaded at once and
// encoded 12 bits per table lookup. Chunk bodies are hundreds of megabytes of base64, so
// this is a tenth of a run's CPU time.
func encodeBase64(dst, src []byte) {
	si, di := 0, 0
	for ; si+8 <= len(src) && di+8 <= len(dst); si, di = si+6, di+8 {
		v := binary.BigEndian.Uint64(src[si:]) // the top 48 bits are the 6 bytes encoded
		binary.LittleEndian.PutUint64(dst[di:], uint64(base64Pairs[v>>52])|
			uint64(base64Pairs[v>>40&0xfff])<<16|
			uint64(base64Pairs[v>>28&0xfff])<<32|
			uint64(base64Pairs[v>>16&0xfff])<<48)
	}
	base64.StdEncoding.Encode(dst[di:], src[si:])
}
