package emulator

import (
	"bytes"
	"encoding/base64"
	"io"
)

// base64Block is how much base64 text base64Reader decodes at a time (a multiple of 4).
const base64Block = 48 << 10

// base64Reader decodes a stream of standard, padded base64 in large blocks, ignoring CR and
// LF as base64.NewDecoder does. base64.NewDecoder hands out at most 768 bytes per Read, so
// the chunk scanner refilled its buffer every 768 bytes, and that refill was about a third
// of the emulator's CPU time in Discard mode.
type base64Reader struct {
	r   io.Reader
	in  []byte // base64 text read but not yet decoded (less than one quantum between fills)
	out []byte // decoded bytes not yet returned
	buf []byte // backing array of out
	off int64  // offset in the base64 text (CR and LF excluded) of in[0], for errors
	err error  // the error that ends the stream, returned once out is drained
}

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{
		r:   r,
		in:  make([]byte, 0, base64Block),
		buf: make([]byte, base64.StdEncoding.DecodedLen(base64Block)),
	}
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// fill reads more base64 text and decodes every whole quantum of it into out.
func (d *base64Reader) fill() {
	n, err := d.r.Read(d.in[len(d.in):cap(d.in)])
	fresh := d.in[len(d.in) : len(d.in)+n]
	if bytes.IndexByte(fresh, '\n') >= 0 || bytes.IndexByte(fresh, '\r') >= 0 { // vectorised, unlike IndexAny
		fresh = stripNewlines(fresh)
	}
	d.in = d.in[:len(d.in)+len(fresh)]
	if err != nil {
		d.err = err
	}
	whole := len(d.in) / 4 * 4
	if d.err == io.EOF && whole < len(d.in) {
		d.err = io.ErrUnexpectedEOF // a partial quantum at the end, as base64.NewDecoder says
	}
	if whole == 0 {
		return
	}
	m, derr := base64.StdEncoding.Decode(d.buf, d.in[:whole])
	d.out = d.buf[:m]
	if derr != nil {
		if ce, ok := derr.(base64.CorruptInputError); ok {
			derr = base64.CorruptInputError(d.off + int64(ce))
		}
		d.err = derr
		return
	}
	d.off += int64(whole)
	d.in = d.in[:copy(d.in, d.in[whole:])]
}

// stripNewlines removes CR and LF from b in place and returns what is left.
func stripNewlines(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		if c != '\r' && c != '\n' {
			out = append(out, c)
		}
	}
	return out
}
