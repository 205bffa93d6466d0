package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/jobs/filestate"
)

// TestValidateRefusesADatasetAnotherJobCreated: a job whose dataset.id is the dataset
// another job created (the state store remembers it for that job) writes the same dataset;
// the file alone cannot show it, so validate reads the state store and refuses it. The same
// id on another project is another dataset.
func TestValidateRefusesADatasetAnotherJobCreated(t *testing.T) {
	const id = "0123456789ABCDEF0123456789ABCDEF"
	tmpl := `[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "x"
[targets.other]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "OTHER_PROJECT"
username = "etl"
password = "x"
[jobs.orders]
target = "mstr"
dataset = { name = "Sales" }
[[jobs.orders.tables]]
name = "orders"
policy = "replace"
parquet = "orders.parquet"
[jobs.copy]
target = "other"
dataset = { name = "Sales copy", id = "` + strings.ToLower(id) + `" }
[[jobs.copy.tables]]
name = "orders"
policy = "replace"
parquet = "orders.parquet"
`
	t.Chdir(t.TempDir())
	s, err := filestate.Open(localStateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDatasetID(context.Background(), "orders", id, "Sales"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	t.Run("same project", func(t *testing.T) {
		path := writeConfig(t, strings.Replace(tmpl, "OTHER_PROJECT", "b7ca92f04b9fae8d941c3e9b7e0cd754", 1))
		code, _, stderr := runValidateCmd(t, nil, "--config", path)
		want := "job copy writes dataset " + strings.ToLower(id) + ", which job orders created and the state store remembers for it"
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("validate: exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, want)
		}
	})
	t.Run("another project", func(t *testing.T) {
		path := writeConfig(t, strings.Replace(tmpl, "OTHER_PROJECT", "FEDCBA9876543210FEDCBA9876543210", 1))
		if code, _, stderr := runValidateCmd(t, nil, "--config", path); code != 0 {
			t.Errorf("validate: exit %d, want 0 (the id is another project's dataset); stderr:\n%s", code, stderr)
		}
	})
}
