package jobs

import (
	"strings"
	"testing"
)

// TestProblemsNeverShowExpandedValues puts a secret where a non-secret key is expected
// (call_retries = "${MSTR_PASSWORD}" by mistake): the problem must name the key and the
// reference, never the variable's value, whatever the key.
func TestProblemsNeverShowExpandedValues(t *testing.T) {
	const secret = `p@ss"w[0rd`
	const number = "987654321"
	env := envOf(map[string]string{"MSTR_PASSWORD": secret, "BIG": number})
	base := map[string]string{
		"base_url":   `"https://mstr.example.com/MicroStrategyLibrary"`,
		"project_id": `"0123456789ABCDEF0123456789ABCDEF"`,
		"target":     `""`,
		"serve":      "",
		"job_target": `"mstr"`,
		"dataset":    `{ name = "Sales" }`,
		"job":        "",
		"policy":     `"replace"`,
		"parquet":    `"data/*.parquet"`,
		"table":      "",
	}
	render := func(over map[string]string) string {
		v := func(k string) string {
			if s, ok := over[k]; ok {
				return s
			}
			return base[k]
		}
		target := v("target")
		if target == `""` {
			target = ""
		}
		return "[targets.mstr]\nbase_url = " + v("base_url") + "\nproject_id = " + v("project_id") +
			"\nusername = \"etl\"\npassword = \"${MSTR_PASSWORD}\"\n" + target +
			"\n[serve]\n" + v("serve") +
			"\n[jobs.sales]\ntarget = " + v("job_target") + "\ndataset = " + v("dataset") + "\n" + v("job") +
			"\n[[jobs.sales.tables]]\nname = \"orders\"\npolicy = " + v("policy") + "\nparquet = " + v("parquet") + "\n" + v("table") + "\n"
	}
	// The template itself is fine: every case below breaks exactly one key.
	mustParse(t, render(nil), env)

	for _, tc := range []struct {
		name string
		over map[string]string
		path string
	}{
		{"call_retries", map[string]string{"target": `call_retries = "${MSTR_PASSWORD}"`}, "targets.mstr.call_retries"},
		{"call_retries out of range", map[string]string{"target": `call_retries = "${BIG}"`}, "targets.mstr.call_retries"},
		{"request_timeout", map[string]string{"target": `request_timeout = "${MSTR_PASSWORD}"`}, "targets.mstr.request_timeout"},
		{"insecure_skip_verify", map[string]string{"target": `insecure_skip_verify = "${MSTR_PASSWORD}"`}, "targets.mstr.insecure_skip_verify"},
		{"folder_id", map[string]string{"target": `folder_id = "${MSTR_PASSWORD}"`}, "targets.mstr.folder_id"},
		{"login_mode", map[string]string{"target": `login_mode = "${MSTR_PASSWORD}"`}, "targets.mstr.login_mode"},
		{"project_id", map[string]string{"project_id": `"${MSTR_PASSWORD}"`}, "targets.mstr.project_id"},
		{"base_url", map[string]string{"base_url": `"${MSTR_PASSWORD}"`}, "targets.mstr.base_url"},
		{"base_url with the value inside", map[string]string{"base_url": `"https://mstr.example.com/${MSTR_PASSWORD}?x"`}, "targets.mstr.base_url"},
		{"listen", map[string]string{"serve": `listen = "${MSTR_PASSWORD}"`}, "serve.listen"},
		{"max_concurrent_runs", map[string]string{"serve": `max_concurrent_runs = "${BIG}"`}, "serve.max_concurrent_runs"},
		{"job target", map[string]string{"job_target": `"${MSTR_PASSWORD}"`}, "jobs.sales.target"},
		{"timeout", map[string]string{"job": `timeout = "${MSTR_PASSWORD}"`}, "jobs.sales.timeout"},
		{"chunk_size", map[string]string{"job": `chunk_size = "${MSTR_PASSWORD}"`}, "jobs.sales.chunk_size"},
		{"chunk_size out of range", map[string]string{"job": `chunk_size = "${BIG}GB"`}, "jobs.sales.chunk_size"},
		{"overlap", map[string]string{"job": `overlap = "${MSTR_PASSWORD}"`}, "jobs.sales.overlap"},
		{"schedule", map[string]string{"job": `schedule = "${MSTR_PASSWORD}"`}, "jobs.sales.schedule"},
		{"retry attempts", map[string]string{"job": `retry = { attempts = "${BIG}" }`}, "jobs.sales.retry.attempts"},
		{"dataset name", map[string]string{"dataset": `{ name = "${MSTR_PASSWORD}" }`}, "jobs.sales.dataset.name"},
		{"dataset id", map[string]string{"dataset": `{ name = "Sales", id = "${MSTR_PASSWORD}" }`}, "jobs.sales.dataset.id"},
		{"policy", map[string]string{"policy": `"${MSTR_PASSWORD}"`}, "jobs.sales.tables[0].policy"},
		{"parquet", map[string]string{"parquet": `"${MSTR_PASSWORD}"`}, "jobs.sales.tables[0].parquet"},
		{"key", map[string]string{"policy": `"upsert"`, "table": `key = ["${MSTR_PASSWORD}"]`}, "jobs.sales.tables[0].key[0]"},
		{"column type", map[string]string{"table": `columns.id = { type = "${MSTR_PASSWORD}" }`}, "jobs.sales.tables[0].columns.id.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := problems(t, render(tc.over), env)
			all := strings.Join(msgs, "\n")
			if !strings.Contains(all, tc.path+":") {
				t.Errorf("no problem reported for %s:\n%s", tc.path, all)
			}
			for _, shown := range []string{"p@ss", "w[0rd", number} {
				if strings.Contains(all, shown) {
					t.Errorf("a problem shows the value of a variable (%q):\n%s", shown, all)
				}
			}
		})
	}
}
