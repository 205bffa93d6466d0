package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoadUsing: a variable unset in a key the command does not use leaves that key out
// and is listed in Unused with its key and line; unset in a key it uses, it is a problem as
// with Load.
func TestLoadUsing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.toml")
	src := `[state]
database_url = "${STATE_DSN}"

[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "${MSTR_PASSWORD}"

[jobs.stores]
schedule = "0 6 * * *"
target = "mstr"
dataset = { name = "Stores" }
[[jobs.stores.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	usesState := func(key string) bool { return strings.HasPrefix(key, "state.") || strings.HasPrefix(key, "jobs.") }

	cfg, err := LoadUsing(path, envOf(map[string]string{"STATE_DSN": "postgres://db/state"}), usesState)
	if err != nil {
		t.Fatalf("LoadUsing with only the state's variable set: %v", err)
	}
	want := []Problem{{Path: "targets.mstr.password", Line: 8, Msg: "environment variable MSTR_PASSWORD is not set (set it, or give a default: ${MSTR_PASSWORD:-default})"}}
	if !slices.Equal(cfg.Unused, want) {
		t.Errorf("Unused = %+v, want %+v", cfg.Unused, want)
	}
	if cfg.State.DatabaseURL != "postgres://db/state" || cfg.Targets["mstr"].Password != "" {
		t.Errorf("state %q, password %q: want the state's DSN and no password", cfg.State.DatabaseURL, cfg.Targets["mstr"].Password)
	}

	_, err = LoadUsing(path, envOf(map[string]string{"MSTR_PASSWORD": "pw"}), usesState)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Path != "state.database_url" || ce.Problems[0].Line != 2 || !strings.Contains(ce.Problems[0].Msg, "STATE_DSN is not set") {
		t.Errorf("LoadUsing with the state's variable unset: %v, want one problem naming state.database_url, line 2 and STATE_DSN", err)
	}

	cfg, err = Load(path, envOf(map[string]string{"STATE_DSN": "postgres://db/state"}))
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Path != "targets.mstr.password" {
		t.Errorf("Load with the password's variable unset: %v, want the problem of targets.mstr.password", err)
	}
	if cfg != nil {
		t.Errorf("Load returned a config with a problem")
	}
}
