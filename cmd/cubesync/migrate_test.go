package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/internal/pgtest"
)

// TestMain lets the package's tests take Postgres databases from internal/pgtest, which
// removes its container after the tests, and removes the cubesync binary they share.
func TestMain(m *testing.M) { pgtest.Run(removeBinaryAfter{m}) }

// runMigrateCommand runs `cubesync migrate` with a config whose [state] database_url is
// taken from STATE_DSN = dsn ("" leaves [state] out).
func runMigrateCommand(t *testing.T, dsn string) (code int, stdout, stderr string) {
	t.Helper()
	config := "[targets.demo]\nbase_url = \"embedded\"\nproject_id = \"P\"\nusername = \"u\"\npassword = \"p\"\n"
	if dsn != "" {
		config = "[state]\ndatabase_url = \"${STATE_DSN}\"\n\n" + config
	}
	path := writeConfig(t, config)
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "STATE_DSN" {
			return dsn
		}
		return ""
	}}
	code = Run(context.Background(), e, []string{"migrate", "--config", path})
	return code, out.String(), errOut.String()
}

func TestMigrateCommand(t *testing.T) {
	dsn := pgtest.DSN(t)

	code, stdout, stderr := runMigrateCommand(t, dsn)
	if code != exitOK {
		t.Fatalf("cubesync migrate on an empty database: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "up to date") {
		t.Errorf("cubesync migrate: stdout %q, want it to say the schema is up to date", stdout)
	}
	if !strings.Contains(stderr, "state migration applied") || !strings.Contains(stderr, "00001_state.sql") {
		t.Errorf("cubesync migrate on an empty database: log %q does not list the migration applied", stderr)
	}
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('cubesync.runs') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		t.Errorf("after cubesync migrate: cubesync.runs exists = %v (%v), want it created", exists, err)
	}

	code, _, stderr = runMigrateCommand(t, dsn)
	if code != exitOK || strings.Contains(stderr, "state migration applied") {
		t.Errorf("second cubesync migrate: exit %d, log %q; want exit 0 with nothing applied", code, stderr)
	}
}

func TestMigrateCommandErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	tests := []struct {
		name     string
		dsn      string
		wantCode int
		want     string
	}{
		{"no database_url", "", exitUsage, "has no [state] database_url"},
		{"database down", "postgres://cubesync:" + secret + "@127.0.0.1:1/state?connect_timeout=2", exitFailed, "check [state] database_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMigrateCommand(t, tc.dsn)
			if code != tc.wantCode || !strings.Contains(stderr, tc.want) {
				t.Errorf("cubesync migrate: exit %d, stderr %q; want exit %d and %q", code, stderr, tc.wantCode, tc.want)
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("cubesync migrate shows the database password: %q", stderr)
			}
		})
	}
}
