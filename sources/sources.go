package sources

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Reader streams one table as Arrow record batches of bounded size.
//
// Next returns the next batch, or io.EOF once the table is exhausted. The caller owns the
// returned batch and must Release it. Close releases everything the reader holds and may be
// called at any time, also before io.EOF.
type Reader interface {
	Schema() *arrow.Schema
	Next(ctx context.Context) (arrow.RecordBatch, error)
	Close() error
}
