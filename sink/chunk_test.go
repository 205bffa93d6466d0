package sink

import (
	"encoding/json"
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
