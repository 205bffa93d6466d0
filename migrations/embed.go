package migrations

import "embed"

// FS holds the SQL migrations of the Postgres state store, in goose's format: files named
// NNNNN_description.sql with "-- +goose Up" and "-- +goose Down" sections, applied in order.
//
//go:embed *.sql
var FS embed.FS
