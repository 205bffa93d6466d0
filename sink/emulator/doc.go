// Package emulator is an in-process stand-in for a MicroStrategy Library server's Push Data
// API, as the project's wire contract (push-api.md) describes it: login and logout (JSON and form bodies,
// the X-MSTR-AuthToken header plus the JSESSIONID cookie on every later call), the calls the
// official Python client makes around a push (status, sessions, project lookup, cube
// definition), dataset models, the dataset definition GET, upload sessions, chunk PUTs in ROW
// and COLUMN orientation, asynchronous publish with publishStatus, DELETE, and
// MicroStrategy-style error bodies for every failure.
//
// It validates strictly so that a client bug fails here rather than on a customer's server:
// base64, JSON shape, column counts, every value against its column's dataType, unknown
// tables and columns, one open upload session per dataset, a request body limit. At publish
// it applies the four update policies on the tuple of each table's attribute columns, and
// makes the changes of all tables of the session visible at once.
//
// Choices where the real server is undocumented (push-api.md marks them inferred):
//
//   - A second upload session for a dataset that has one open is refused with 409 and an
//     ERR006 body naming the open session.
//   - A repeated (tableName, index) PUT replaces the earlier chunk; chunks are applied in
//     index order per table at publish.
//   - Duplicate attribute tuples within one push: the last row wins, at the position where
//     the tuple was first seen. A table without attribute columns has no tuple: update and
//     upsert append like add, and nothing is deduplicated.
//   - A publish that ends in an error (see FailPublish) applies nothing and ends the session.
//     A second publish of the same session is answered 200 and does nothing.
//   - Numeric dataType codes in the definition GET: 1 INTEGER, 6 DOUBLE, 33 STRING,
//     30 BIGDECIMAL (documented), and inferred from MicroStrategy's data type enum:
//     35 BIGINTEGER, 24 BOOL, 14 DATE, 15 TIME, 16 DATETIME.
//   - A model POSTed with the name of an existing dataset in the same folder replaces it
//     under the same id: new table and column ids, no rows, and its open upload session is
//     cancelled.
//   - DATE values are stored zero-padded ("2017-12-4" is kept as "2017-12-04"); every other
//     value is kept exactly as sent, numbers as their JSON text.
//   - The X-MSTR-ProjectID header is required on dataset calls (400 ERR005 without it), as
//     a real server needs it to find the dataset.
//   - Strict where the sources are silent, so that sloppy clients fail here first: an upload
//     session's columnHeaders must name every column of the table exactly once; updatePolicy
//     must be lower case; INTEGER and BIGINTEGER values must be whole numbers without a
//     fraction or exponent ("1.0" is refused); strings must be valid UTF-8; DATETIME needs a
//     time part (a space instead of the T is tolerated); the unpadded DATE "2017-12-4" of
//     MicroStrategy's sample is taken.
//
// Without Discard, accepted chunks and published rows are held as Go values, several times
// their JSON size: use Options.Discard to push volume through it (benchmarks), which
// validates everything and keeps only counts, so memory stays bounded by one request.
//
// The emulator is not scoped by project: any X-MSTR-ProjectID is taken, GET /api/projects
// lists the one sent, and GET /api/objects/{id}?type=32 describes any id as a project.
//
// Upload sessions live in memory only; with Options.DataDir the datasets (definition and
// rows) are written atomically after every change and reloaded by New; files that other
// processes write there later (several emulators may share a DataDir) are read before the
// next request or read-back that follows.
//
// Tests and tools read back what a real server would hold with Table, Datasets and
// OpenSessions, or over HTTP under /emulator/, and inject faults with FailNth,
// ExpireSessions, SetPublishDelay and FailPublish (also under /emulator/faults).
//
// emulator imports package sink for its wire types (Column, DataType, Policy) only and never
// uses the sink client: the client is tested against the emulator, not the other way round.
// Where it repeats what the client computes (dates and times, decimals, base64), it does so
// on purpose, written on its own: a check that shared the client's code would share its bugs.
// It must not import jobs or sources.
package emulator
