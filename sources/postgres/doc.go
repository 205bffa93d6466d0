// Package postgres is the Postgres source: it runs a table's query on a dedicated pgx
// connection and streams the result as Arrow record batches of bounded size, decoding
// Postgres's binary wire format straight into Arrow builders.
//
// It owns the mapping from Postgres result types to Arrow types (product.md, "Types") and
// the errors a query can end with: a bad DSN, a refused connection, a query error with its
// position, a server-side cancellation, a connection lost mid-read.
//
// postgres implements sources.Reader and must not import jobs or sink: its callers add the
// job, table and source names to its errors.
package postgres
