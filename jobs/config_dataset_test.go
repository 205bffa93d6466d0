package jobs

import (
	"strings"
	"testing"
)

// TestTwoJobsOneDatasetRefused: two jobs that push into one dataset replace each other's
// data, so the config is refused, naming both jobs and where the other is defined.
func TestTwoJobsOneDatasetRefused(t *testing.T) {
	const targets = `[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "0123456789ABCDEF0123456789ABCDEF"
username = "etl"
password = "x"
[targets.mstr_again]
base_url = "https://MSTR.example.com/MicroStrategyLibrary/"
project_id = "0123456789abcdef0123456789abcdef"
username = "other"
password = "y"
[targets.other_project]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "FEDCBA9876543210FEDCBA9876543210"
username = "etl"
password = "x"
[targets.other_folder]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "0123456789ABCDEF0123456789ABCDEF"
username = "etl"
password = "x"
folder_id = "F0000000000000000000000000000001"
[targets.emu]
base_url = "embedded"
[targets.emu2]
base_url = "embedded"
`
	job := func(name, target, dataset string) string {
		return "\n[jobs." + name + "]\ntarget = \"" + target + "\"\ndataset = " + dataset +
			"\n[[jobs." + name + ".tables]]\nname = \"t\"\npolicy = \"replace\"\nparquet = \"t.parquet\"\n"
	}
	for _, tc := range []struct {
		name     string
		a, b     string // target and dataset of jobs a and b
		ta, tb   string
		conflict bool
	}{
		{"same name, same target", `{ name = "Sales" }`, `{ name = "Sales" }`, "mstr", "mstr", true},
		{"same name in another case", `{ name = "Sales" }`, `{ name = " sales" }`, "mstr", "mstr", true},
		{"same name, two targets for one server and project", `{ name = "Sales" }`, `{ name = "Sales" }`, "mstr", "mstr_again", true},
		{"same id, different names", `{ name = "Sales", id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }`, `{ name = "Other", id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }`, "mstr", "mstr", true},
		{"same name on the built-in emulator", `{ name = "Sales" }`, `{ name = "Sales" }`, "emu", "emu2", true},
		{"same name, other project", `{ name = "Sales" }`, `{ name = "Sales" }`, "mstr", "other_project", false},
		{"same name, other folder", `{ name = "Sales" }`, `{ name = "Sales" }`, "mstr", "other_folder", false},
		{"same id, other project", `{ name = "A", id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }`, `{ name = "B", id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }`, "mstr", "other_project", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := targets + job("alpha", tc.ta, tc.a) + job("beta", tc.tb, tc.b)
			if !tc.conflict {
				mustParse(t, src, noEnv)
				return
			}
			msgs := problems(t, src, noEnv)
			if len(msgs) != 1 {
				t.Fatalf("problems = %d, want 1:\n%s", len(msgs), strings.Join(msgs, "\n"))
			}
			// alpha's dataset is on line 29, beta's on line 37.
			for _, want := range []string{"jobs.toml:37: jobs.beta.dataset", "job alpha (jobs.toml:29)", "one job"} {
				if !strings.Contains(msgs[0], want) {
					t.Errorf("problem %q does not contain %q", msgs[0], want)
				}
			}
		})
	}
}
