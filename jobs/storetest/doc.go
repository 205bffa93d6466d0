// Package storetest is the conformance suite of jobs.Store: the behaviour every state store
// backend must have, written once and run by each backend's tests (jobs/filestate,
// jobs/pgstate), so the local default and Postgres cannot drift apart.
//
// It imports jobs and the standard library's testing only; never a backend.
package storetest
