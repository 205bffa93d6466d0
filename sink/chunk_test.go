package sink

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestChunkWriteAndSplit(t *testing.T) {
	c := NewChunk(3, [][]byte{
		[]byte(`1,2,3`),
		[]byte(`"a,b","c\",",null`),
	}, nil)
	got := c.Bytes()
	if int64(len(got)) != c.Len() {
		t.Fatalf("Len() = %d, but WriteTo wrote %d bytes", c.Len(), len(got))
	}
	var cols [][]any
	if err := json.Unmarshal(got, &cols); err != nil {
		t.Fatalf("chunk is not JSON: %v\n%s", err, got)
	}
	if len(cols) != 2 || len(cols[0]) != 3 || len(cols[1]) != 3 {
		t.Fatalf("chunk shape = %v, want 2 columns of 3 rows", cols)
	}

	a, b, err := c.Split()
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows() != 1 || b.Rows() != 2 {
		t.Fatalf("split rows = %d + %d, want 1 + 2", a.Rows(), b.Rows())
	}
	var ca, cb [][]any
	if err := json.Unmarshal(a.Bytes(), &ca); err != nil {
		t.Fatalf("first half is not JSON: %v\n%s", err, a.Bytes())
	}
	if err := json.Unmarshal(b.Bytes(), &cb); err != nil {
		t.Fatalf("second half is not JSON: %v\n%s", err, b.Bytes())
	}
	joined := [][]any{append(ca[0], cb[0]...), append(ca[1], cb[1]...)}
	if !reflect.DeepEqual(joined, cols) {
		t.Fatalf("halves joined = %v, want %v", joined, cols)
	}
	one := NewChunk(1, [][]byte{[]byte(`1`)}, nil)
	if _, _, err := one.Split(); err != ErrUnsplittable {
		t.Fatalf("Split of one row: err = %v, want ErrUnsplittable", err)
	}
}

// TestChunkBodyReads checks the upload body against the document it encodes, whatever the
// blocks' lengths (groups of 3 bytes split across blocks) and the reads' sizes (down to a
// byte at a time), and that a finished body is no longer read.
func TestChunkBodyReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		ncols := 1 + rng.IntN(4)
		cols := make([][][]byte, ncols)
		for c := range cols {
			for range rng.IntN(5) {
				blk := make([]byte, rng.IntN(12))
				for k := range blk {
					blk[k] = byte('a' + rng.IntN(26))
				}
				cols[c] = append(cols[c], blk)
			}
		}
		ch := &Chunk{rows: 1, cols: cols}
		body := newChunkBody("orders", i+1, ch)
		want := body.prefix + base64.StdEncoding.EncodeToString(ch.Bytes()) + chunkBodySuffix
		if int64(len(want)) != body.size {
			t.Fatalf("chunk %d: body size %d, want %d", i, body.size, len(want))
		}
		for _, bufSize := range []int{1, 2, 3, 4, 5, 7, 64, 32 << 10} {
			r, _ := body.open()
			var got []byte
			buf := make([]byte, bufSize)
			for {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("chunk %d, reads of %d bytes: %v", i, bufSize, err)
				}
			}
			if string(got) != want {
				t.Fatalf("chunk %d (blocks %q), reads of %d bytes:\n got %s\nwant %s", i, cols, bufSize, got, want)
			}
		}
		r, _ := body.open()
		body.finish()
		if n, err := r.Read(make([]byte, 64)); n != 0 || !errors.Is(err, errBodyDone) {
			t.Fatalf("read after finish = %d, %v; want 0, errBodyDone", n, err)
		}
	}
}
