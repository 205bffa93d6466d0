package pgtest

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Run(m) }

func TestDSNGivesEachCallAFreshDatabaseDroppedAfterTheTest(t *testing.T) {
	var first, second string
	t.Run("inner", func(t *testing.T) {
		a := Connect(t, DSN(t))
		b := Connect(t, DSN(t))
		if _, err := a.Exec(t.Context(), "CREATE TABLE leftover (id int)"); err != nil {
			t.Fatalf("create table in the first database: %v", err)
		}
		if err := a.QueryRow(t.Context(), "SELECT current_database()").Scan(&first); err != nil {
			t.Fatal(err)
		}
		if err := b.QueryRow(t.Context(), "SELECT current_database()").Scan(&second); err != nil {
			t.Fatal(err)
		}
		if first == second {
			t.Fatalf("two DSN calls gave the same database %q", first)
		}
		var tables int
		if err := b.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("the second database has %d tables in public, want an empty database", tables)
		}
		var super bool
		if err := b.QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
			t.Fatal(err)
		}
		if !super {
			t.Error("the test database's user is not a superuser; tests cannot create extensions or roles")
		}
	})

	// The inner test's connections are still open when its cleanups drop the databases
	// (cleanups run last-in first-out): the drop must end them, not wait.
	admin := Connect(t, DSN(t))
	var left []string
	rows, err := admin.Query(t.Context(), "SELECT datname FROM pg_database WHERE datname = ANY($1)", []string{first, second})
	if err != nil {
		t.Fatal(err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("databases %v still exist after their test ended", left)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"url", "postgres://u:p@h:5/db?sslmode=disable", "postgres://u:p@h:5/t_x?sslmode=disable"},
		{"url without database", "postgresql://u@h", "postgresql://u@h/t_x"},
		{"keyword value", "host=h user=u dbname=db", "host=h user=u dbname=db dbname=t_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.dsn, "t_x")
			if err != nil {
				t.Fatalf("withDatabase(%q): %v", tt.dsn, err)
			}
			if got != tt.want {
				t.Errorf("withDatabase(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("pgx cannot parse %q: %v", got, err)
			}
			if cfg.Database != "t_x" {
				t.Errorf("pgx reads database %q from %q, want t_x", cfg.Database, got)
			}
		})
	}

	t.Run("bad url does not echo the password", func(t *testing.T) {
		_, err := withDatabase("postgres://u:hunter2@h:port/db", "t_x")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("withDatabase with a bad port: err = %v, want an error without the password", err)
		}
	})
}

func TestDatabaseNameIsAValidUniqueIdentifier(t *testing.T) {
	long := "TestSomething/with a very long subtest name that goes on and on and on"
	a, b := databaseName(long), databaseName(long)
	if a == b {
		t.Errorf("databaseName gave %q twice", a)
	}
	if len(a) > 63 {
		t.Errorf("databaseName(%q) = %q, %d bytes; Postgres truncates identifiers past 63", long, a, len(a))
	}
	if strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("databaseName(%q) = %q, want only lowercase letters, digits and _", long, a)
	}
}
