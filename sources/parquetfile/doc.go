// Package parquetfile reads Parquet files as a stream of Arrow record batches: one file, every
// *.parquet file of a directory, or the files a glob matches, in sorted order, as one table.
//
// It owns resolving a table's parquet pattern to files, checking that the files share one
// schema, and reading the files row group by row group in batches of bounded size, so memory never
// holds a whole file. It does not decide which files are new (the caller passes Options.Only)
// and knows nothing of datasets, policies or keys.
//
// parquetfile must not import jobs or sink: the Arrow record batch is the only thing that
// crosses from a source to the sink. Which Arrow types push, and as what, is the sink's type
// table (sink.PushType), applied by the runner to every source's schema alike.
package parquetfile
