// Package migrations holds the SQL files that create and evolve the Postgres state store's
// cubesync schema, embedded in the binary so `cubesync migrate` and every start apply them
// without files on disk. jobs/pgstate applies them with pressly/goose.
//
// A migration, once released, is never edited: a change to the schema is a new file with the
// next number. This package imports nothing of cubesync.
package migrations
