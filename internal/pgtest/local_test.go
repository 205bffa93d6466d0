//go:build unix

package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// localBinaries returns the PostgreSQL binaries of this machine, or skips the test where
// there are none (never in CI, whose machines have them).
func localBinaries(t *testing.T) string {
	t.Helper()
	dir, err := findBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI machines have PostgreSQL server binaries: %v", err)
		}
		t.Skipf("%v: install them (apt-get install postgresql-15) to test throwaway clusters", err)
	}
	return dir
}

func TestLocalClusterFromCachedTemplate(t *testing.T) {
	bin := localBinaries(t)
	cache := t.TempDir()

	for _, run := range []string{"first run makes the template", "second run copies it"} {
		t.Run(run, func(t *testing.T) {
			srv, err := startLocal(t.Context(), bin, cache)
			if err != nil {
				t.Fatalf("startLocal: %v", err)
			}
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					srv.stop()
				}
			})
			templates, _ := filepath.Glob(filepath.Join(cache, "pg*", "PG_VERSION"))
			if len(templates) != 1 {
				t.Errorf("cache %s holds templates %v, want one initdb'ed cluster", cache, templates)
			}

			conn := Connect(t, srv.adminDSN)
			var addr string
			if err := conn.QueryRow(t.Context(), "SELECT host(inet_server_addr())").Scan(&addr); err != nil {
				t.Fatal(err)
			}
			if addr != "127.0.0.1" {
				t.Errorf("the server answers on %s, want 127.0.0.1 only", addr)
			}
			var dataDir, fsync string
			if err := conn.QueryRow(t.Context(), "SELECT current_setting('data_directory'), current_setting('fsync')").Scan(&dataDir, &fsync); err != nil {
				t.Fatal(err)
			}
			if fsync != "off" {
				t.Errorf("fsync = %s, want off on a throwaway cluster", fsync)
			}

			// A wrong password is refused: tests of password errors may rely on this server.
			cfg, err := pgx.ParseConfig(srv.adminDSN)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Password = "wrong"
			_, err = pgx.ConnectConfig(t.Context(), cfg)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
				t.Errorf("connect with a wrong password: err = %v, want SQLSTATE 28P01 (invalid_password)", err)
			}

			conn.Close(context.Background())
			if err := srv.stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			stopped = true
			if _, err := os.Stat(filepath.Dir(dataDir)); !os.IsNotExist(err) {
				t.Errorf("after stop, the cluster directory %s: %v, want it removed", filepath.Dir(dataDir), err)
			}
		})
	}
}

func TestSweepRemovesDirectoriesOfDeadTestBinaries(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(pid int) string {
		dir, err := os.MkdirTemp("", tempPrefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	orphan, alive := mk(dead.Process.Pid), mk(os.Getpid())

	sweepLeftovers()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("directory of a dead test binary: %v, want it removed", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("directory of a running test binary: %v, want it kept", err)
	}
}
