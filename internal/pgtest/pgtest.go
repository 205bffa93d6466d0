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
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// EnvDatabaseURL names the environment variable holding the DSN of a Postgres server (13 or
// newer) on which the tests may create and drop databases. When set, no container is started.
const EnvDatabaseURL = "CUBESYNC_TEST_DATABASE_URL"

const (
	image = "postgres"
	tag   = "15"
	// startTimeout bounds the wait for a new container to accept connections; the offline
	// image answers in about two seconds, a cold Docker Hub pull takes longer.
	startTimeout = 2 * time.Minute
	// containerLabel marks the containers pgtest starts, so a leftover of a killed test
	// binary can be found: docker rm -f $(docker ps -aqf label=cubesync.pgtest).
	containerLabel = "cubesync.pgtest"
)

// shared is the one container of this test binary. It is package state, against the
// project's habit, because its lifetime is the test binary's: it must outlive every single
// test (the first test's t.Cleanup would remove it under the later ones) and be removed after
// m.Run, and testing.M offers no other place to keep it between DSN and Run.
var shared container

type container struct {
	once     sync.Once
	started  bool // Run was called: someone will purge the container
	adminDSN string
	pool     *dockertest.Pool
	resource *dockertest.Resource
	err      error
	skip     bool // err means "no Docker here", not "Docker failed"
}

// Run runs the tests of m and then removes the Postgres container that DSN started, if any,
// and exits with the tests' status. Call it from TestMain in every package that uses DSN:
//
//	func TestMain(m *testing.M) { pgtest.Run(m) }
func Run(m *testing.M) {
	shared.started = true
	code := m.Run()
	if shared.resource != nil {
		if err := shared.pool.Purge(shared.resource); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: remove the postgres container %s: %v\n", shared.resource.Container.Name, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN returns the connection string of a new, empty database for this test, dropped when the
// test ends. The database belongs to a superuser, so tests may create schemas, roles and
// extensions in it. Without CUBESYNC_TEST_DATABASE_URL or a reachable Docker engine the test
// is skipped, or fails when the CI environment variable is "true".
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
	if err := exec(ctx, admin, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open, which would otherwise block the drop.
		if err := exec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// server returns the admin DSN of the server to use, starting the container on first use,
// and whether CREATE DATABASE may use STRATEGY file_copy (Postgres 15 known).
func server(t testing.TB) (admin string, fileCopy bool) {
	t.Helper()
	if dsn := os.Getenv(EnvDatabaseURL); dsn != "" {
		return dsn, false
	}
	if !shared.started {
		t.Fatal("pgtest: call pgtest.Run(m) from TestMain (func TestMain(m *testing.M) { pgtest.Run(m) }) so the postgres container is removed after the tests")
	}
	shared.once.Do(shared.start)
	if shared.err != nil {
		if shared.skip && os.Getenv("CI") != "true" {
			t.Skipf("pgtest: no Postgres for this test: set %s to a Postgres superuser DSN, or start Docker (%v)", EnvDatabaseURL, shared.err)
		}
		t.Fatalf("pgtest: no Postgres for this test (set %s, or make Docker and the %s:%s image available): %v", EnvDatabaseURL, image, tag, shared.err)
	}
	return shared.adminDSN, true
}

func (c *container) start() {
	pool, err := dockertest.NewPool("")
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		c.err, c.skip = fmt.Errorf("docker is not reachable: %w", err), true
		return
	}
	pool.MaxWait = startTimeout

	password := randomHex(16)
	resource, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: image,
		Tag:        tag,
		Env:        []string{"POSTGRES_PASSWORD=" + password, "POSTGRES_USER=postgres", "POSTGRES_DB=postgres"},
		// Durability is worthless for a database that lives as long as a test binary.
		Cmd:    []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
		Labels: map[string]string{containerLabel: "1"},
		PortBindings: map[docker.Port][]docker.PortBinding{
			"5432/tcp": {{HostIP: "127.0.0.1", HostPort: ""}},
		},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
		// The data directory in memory: initdb on overlay file systems takes seconds longer.
		hc.Tmpfs = map[string]string{"/var/lib/postgresql/data": "rw"}
	})
	if err != nil {
		c.err = fmt.Errorf("start %s:%s container (on machines without a registry, build the image with .ci/postgres-image.sh): %w", image, tag, err)
		return
	}
	c.pool, c.resource = pool, resource

	admin := (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     resource.GetHostPort("5432/tcp"),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}).String()
	var last error
	err = pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last = exec(ctx, admin, "SELECT 1")
		return last
	})
	if err != nil {
		c.err = fmt.Errorf("postgres container %s did not accept connections within %s: %w", resource.Container.Name, startTimeout, errors.Join(err, last))
		return
	}
	c.adminDSN = admin
}

func exec(ctx context.Context, dsn, sql string) error {
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
