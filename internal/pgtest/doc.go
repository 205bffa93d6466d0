// Package pgtest gives tests a fresh, empty Postgres database each.
//
// The server is the one CUBESYNC_TEST_DATABASE_URL names, or else a postgres:15 container
// that ory/dockertest starts once per test binary and removes after the tests (pgtest.Run in
// TestMain). Without either, tests skip with a message saying what to set, except in CI
// (CI=true), where they fail: database tests never silently skip there.
//
// pgtest is imported by tests only. It must not import any cubesync package, so every
// package's tests can use it.
package pgtest
