package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// stateVarsConfig is a jobs file on the local state store whose secrets come from
// variables only serve and run-job use: the target's password, the admin token and a
// webhook URL. state is written first ("" leaves [state] out).
func stateVarsConfig(t *testing.T, state string) string {
	t.Helper()
	text := state + `
[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "${CUBESYNC_TEST_MSTR_PASSWORD}"

[serve]
admin_token = "${CUBESYNC_TEST_ADMIN_TOKEN_UNSET}"

[notify.ops]
url = "${CUBESYNC_TEST_OPS_WEBHOOK_URL}"

[defaults]
notify = ["ops"]

[jobs.stores]
schedule = "0 6 * * *"
target = "mstr"
dataset = { name = "Stores" }
[[jobs.stores.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`
	return writeConfig(t, text)
}

// runWithEnv runs `cubesync ARGS` in this process with the variables of vars set (and every
// other one of the test's unset, unless the process has it).
func runWithEnv(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for _, name := range []string{"CUBESYNC_TEST_MSTR_PASSWORD", "CUBESYNC_TEST_ADMIN_TOKEN_UNSET", "CUBESYNC_TEST_OPS_WEBHOOK_URL", "CUBESYNC_TEST_STATE_DSN"} {
		if _, set := os.LookupEnv(name); set {
			t.Fatalf("%s is set in the test's environment: the test needs it unset", name)
		}
	}
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	code = Run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// TestStateCommandsNeedNoServeSecrets: trigger, pause, resume, history and jobs only read
// and write the state store, so they work where the target's password, the admin token and
// the webhook URL are unset, as on an operator's machine.
func TestStateCommandsNeedNoServeSecrets(t *testing.T) {
	config := stateVarsConfig(t, "")
	t.Chdir(t.TempDir()) // the local state store is ./.cubesync
	steps := []struct {
		args       []string
		wantStdout string
	}{
		{[]string{"pause", "stores"}, "stores paused"},
		{[]string{"jobs"}, "paused since"},
		{[]string{"resume", "stores"}, "stores resumed"},
		{[]string{"trigger", "stores", "--wait", "0"}, "run of stores requested"},
		{[]string{"history", "stores"}, ""},
	}
	for _, s := range steps {
		code, stdout, stderr := runWithEnv(t, nil, append(s.args, "--config", config)...)
		if code != exitOK || !strings.Contains(stdout, s.wantStdout) {
			t.Errorf("cubesync %s with the password, admin token and webhook URL unset: exit %d, stdout %q (want %q), stderr %q",
				strings.Join(s.args, " "), code, stdout, s.wantStdout, stderr)
		}
	}
}

// TestCommandsStillNameTheVariablesTheyUse: run-job logs in with the password, so it still
// fails on an unset one, naming file, line, key and variable; a state command still needs
// the variables of [state]. No value of a variable that is set is printed.
func TestCommandsStillNameTheVariablesTheyUse(t *testing.T) {
	const secret = "s3cret-webhook-token-0123456789"
	vars := map[string]string{"CUBESYNC_TEST_OPS_WEBHOOK_URL": "https://hooks.example.com/" + secret}
	t.Chdir(t.TempDir())

	config := stateVarsConfig(t, "")
	code, stdout, stderr := runWithEnv(t, vars, "run-job", "stores", "--config", config)
	want := config + ":6: targets.mstr.password: environment variable CUBESYNC_TEST_MSTR_PASSWORD is not set"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("cubesync run-job stores with the password unset: exit %d (want %d), stderr %q, want it to say %q", code, exitUsage, stderr, want)
	}
	if !strings.Contains(stderr, "CUBESYNC_TEST_ADMIN_TOKEN_UNSET") {
		t.Errorf("cubesync run-job stores did not name the unset admin token variable as well (validate and run-job check the whole file): %q", stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("cubesync run-job printed the webhook URL's token:\n%s%s", stdout, stderr)
	}

	config = stateVarsConfig(t, "[state]\ndatabase_url = \"${CUBESYNC_TEST_STATE_DSN}\"\n")
	code, stdout, stderr = runWithEnv(t, vars, "pause", "stores", "--config", config)
	want = config + ":2: state.database_url: environment variable CUBESYNC_TEST_STATE_DSN is not set"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("cubesync pause stores with [state] database_url's variable unset: exit %d (want %d), stderr %q, want it to say %q", code, exitUsage, stderr, want)
	}
	if strings.Contains(stderr, "CUBESYNC_TEST_MSTR_PASSWORD") {
		t.Errorf("cubesync pause stores names the password's variable, which it does not use: %q", stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("cubesync pause printed the webhook URL's token:\n%s%s", stdout, stderr)
	}
}
