package parquetfile

import (
	"fmt"
)

// SchemaMismatchError reports two files of one table whose schemas differ.
type SchemaMismatchError struct {
	File, OtherFile string
	// Detail names the column and how it differs, e.g. `column "qty" is int32 in one and int64 in the other`.
	Detail string
}

func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("parquet files %s and %s have different schemas: %s (all files of a table must share one schema: rewrite the odd file or point the table at files of one shape)",
		e.File, e.OtherFile, e.Detail)
}
