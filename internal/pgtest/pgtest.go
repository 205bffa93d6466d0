package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDatabaseURL names the environment variable holding the DSN of a Postgres server (13 or
// newer) on which the tests may create and drop databases. When set, no server is started.
const EnvDatabaseURL = "CUBESYNC_TEST_DATABASE_URL"

// EnvServer names the environment variable that restricts the server pgtest starts: "docker"
// (a postgres:15 container only) or "local" (a cluster of the local PostgreSQL binaries
// only). Then that server failing fails the tests instead of falling back to another kind.
const EnvServer = "CUBESYNC_PGTEST"

// installHint is what a developer without any Postgres for the tests reads.
const installHint = "install the PostgreSQL server binaries (apt-get install postgresql-15), start Docker, or set " + EnvDatabaseURL + " to a Postgres superuser DSN"

// shared is the one server of this test binary. It is package state, against the project's
// habit, because its lifetime is the test binary's: it must outlive every single test (the
// first test's t.Cleanup would remove it under the later ones) and be removed after m.Run,
// and testing.M offers no other place to keep it between DSN and Run.
var shared testServer

type testServer struct {
	once     sync.Once
	started  bool // Run was called: someone will stop the server
	adminDSN string
	fileCopy bool   // CREATE DATABASE may use STRATEGY file_copy (Postgres 15 or newer)
	kind     string // what runs the server, for messages: "postgres:15 container", ...
	stop     func() error
	err      error
	skip     bool // err means "no way to get a server here", not "starting one failed"
}

// Run runs the tests of m and then stops and removes the Postgres server that DSN started,
// if any, and exits with the tests' status. Call it from TestMain in every package that uses
// DSN:
//
//	func TestMain(m *testing.M) { pgtest.Run(m) }
//
// m is a *testing.M, or one wrapped to clean up after its own tests before Run exits.
func Run(m interface{ Run() int }) {
	shared.started = true
	code := m.Run()
	if shared.stop != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: remove the %s: %v\n", shared.kind, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN returns the connection string of a new, empty database for this test, dropped when the
// test ends. The database belongs to a superuser, so tests may create schemas, roles and
// extensions in it. Without any Postgres server (see the package documentation) the test is
// skipped, or fails when the CI environment variable is "true".
func DSN(t testing.TB) string {
	t.Helper()
	admin, fileCopy := server(t)
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE template0"
	if fileCopy {
		// Without WAL-logging the copy: on the throwaway fsync=off server it is twice as fast.
		create += " STRATEGY file_copy"
	}
	if err := execSQL(ctx, admin, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open, which would otherwise block the drop.
		if err := execSQL(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// ChecksPasswords reports whether the test server refuses a wrong password. Only a server
// pgtest made itself is known to (its superuser has a random password and TCP connections
// need it); the server in CUBESYNC_TEST_DATABASE_URL may trust every connection. Like DSN, it
// skips or fails the test when there is no server.
func ChecksPasswords(t testing.TB) bool {
	t.Helper()
	server(t)
	return os.Getenv(EnvDatabaseURL) == ""
}

// server returns the admin DSN of the server to use, starting one on first use, and whether
// CREATE DATABASE may use STRATEGY file_copy.
func server(t testing.TB) (admin string, fileCopy bool) {
	t.Helper()
	if dsn := os.Getenv(EnvDatabaseURL); dsn != "" {
		return dsn, false
	}
	if !shared.started {
		t.Fatal("pgtest: call pgtest.Run(m) from TestMain (func TestMain(m *testing.M) { pgtest.Run(m) }) so the Postgres server is removed after the tests")
	}
	shared.once.Do(shared.start)
	if shared.err != nil {
		if shared.skip && os.Getenv("CI") != "true" {
			t.Skipf("pgtest: no Postgres for this test: %s", shared.err)
		}
		t.Fatalf("pgtest: no Postgres for this test: %v", shared.err)
	}
	return shared.adminDSN, shared.fileCopy
}

// start starts the first server that this machine can run, in the order of the package
// documentation, and reports which one it started on stderr (shown with go test -v).
func (s *testServer) start() {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	only := os.Getenv(EnvServer)
	switch only {
	case "", "docker", "local":
	default:
		s.err = fmt.Errorf("%s=%q: want docker, local, or unset for the first server this machine can run", EnvServer, only)
		return
	}

	var tried []error
	docker, dockerErr := newDocker()
	hasImage := false
	if dockerErr == nil {
		hasImage, dockerErr = docker.hasImage()
	}
	if only == "docker" || (only == "" && hasImage) {
		if dockerErr == nil {
			s.err = s.use(docker.start(ctx))
		} else {
			s.err = dockerErr
		}
		if s.err == nil || only == "docker" {
			return
		}
		tried = append(tried, s.err)
	}

	binDir, binErr := findBinaries()
	if binErr == nil {
		s.err = s.use(startLocal(ctx, binDir, templateCache()))
		if s.err == nil || only == "local" {
			return
		}
		tried = append(tried, s.err)
	} else if only == "local" {
		s.err = binErr
		return
	}

	if dockerErr == nil && !hasImage {
		// A developer's machine with Docker Hub: the container pulls the image.
		s.err = s.use(docker.start(ctx))
		if s.err == nil {
			return
		}
		tried = append(tried, s.err)
	}
	if len(tried) > 0 {
		s.err = errors.Join(tried...)
		return
	}
	s.err = fmt.Errorf("%s (%v; %v)", installHint, binErr, dockerErr)
	s.skip = true
}

// use records a started server, or returns why it did not start.
func (s *testServer) use(srv *started, err error) error {
	if err != nil {
		return err
	}
	s.adminDSN, s.fileCopy, s.kind, s.stop = srv.adminDSN, srv.fileCopy, srv.kind, srv.stop
	fmt.Fprintf(os.Stderr, "pgtest: tests use a %s\n", srv.kind)
	return nil
}

// started is a running server that pgtest made.
type started struct {
	adminDSN string
	fileCopy bool
	kind     string
	stop     func() error
}

func execSQL(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn, a URL or a keyword/value string, pointing at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error would quote the DSN, password included.
			return "", fmt.Errorf("%s is not a valid postgres:// URL", EnvDatabaseURL)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value strings the last setting of a keyword wins.
	return dsn + " dbname=" + name, nil
}

// databaseName makes a unique database name that says which test it belongs to.
func databaseName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	// Postgres truncates identifiers to 63 bytes; keep the random suffix whole.
	return "t_" + b.String()[:min(b.Len(), 40)] + "_" + randomHex(6)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}

// Connect opens a connection to dsn (a database DSN gave), closed when the test ends.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
