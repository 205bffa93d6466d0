// Package pgtest gives tests a fresh, empty Postgres database each.
//
// The server is, in this order:
//
//   - the one CUBESYNC_TEST_DATABASE_URL names;
//   - a postgres:15 container that ory/dockertest starts, when Docker runs and has the image
//     (CI builds it offline with .ci/postgres-image.sh);
//   - a throwaway cluster of the PostgreSQL server binaries installed on the machine
//     (/usr/lib/postgresql/*/bin or initdb on PATH): initdb'ed once into the user cache
//     directory, copied into a temporary directory per test binary, listening on 127.0.0.1
//     and a socket in that directory, run as the postgres OS user when the tests run as root;
//   - a postgres:15 container pulled from a registry, when Docker runs without the image.
//
// The container or cluster is started once per test binary and removed after the tests
// (pgtest.Run in TestMain). CUBESYNC_PGTEST=docker or =local allows only that kind of
// server, and makes its failure an error rather than a fallback: CI sets docker, so the
// dockertest path cannot silently stop being tested. Without any server, tests skip with a
// line saying what to install, except in CI (CI=true), where they fail: database tests never
// silently skip there.
//
// pgtest is imported by tests only. It must not import any cubesync package, so every
// package's tests can use it.
package pgtest
