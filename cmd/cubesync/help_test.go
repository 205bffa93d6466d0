package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every command answers help, --help and -h alike: on stdout, exit 0, with what it does, its
// usage, every flag with at most one default, and an example.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, cmd := range commandTable() {
		t.Run(cmd.name, func(t *testing.T) {
			code, want, stderr := runCmd(t, "help", cmd.name)
			if code != exitOK || stderr != "" {
				t.Fatalf("cubesync help %s: exit %d, stderr %q; want exit 0 and nothing on stderr", cmd.name, code, stderr)
			}
			for _, part := range []string{cmd.summary, "usage: cubesync " + cmd.name, "example:\n  cubesync "} {
				if !strings.Contains(want, part) {
					t.Errorf("cubesync help %s does not show %q:\n%s", cmd.name, part, want)
				}
			}
			for _, args := range [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}} {
				code, got, stderr := runCmd(t, args...)
				if code != exitOK || stderr != "" || got != want {
					t.Errorf("cubesync %s: exit %d, stderr %q, stdout:\n%s\nwant exit 0 and the same help as cubesync help %s:\n%s", strings.Join(args, " "), code, stderr, got, cmd.name, want)
				}
			}

			flagLine := regexp.MustCompile(`(?m)^  (--?[a-z-]+)\b.*$`)
			lines := flagLine.FindAllStringSubmatch(want, -1)
			seen := map[string]bool{}
			for _, l := range lines {
				if seen[l[1]] {
					t.Errorf("cubesync help %s lists %s twice", cmd.name, l[1])
				}
				seen[l[1]] = true
				if n := strings.Count(l[0], "default"); n > 1 {
					t.Errorf("cubesync help %s: %q gives %d defaults, want one", cmd.name, l[0], n)
				}
			}
		})
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, stderr := runCmd(t, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("cubesync %s: exit %d, stderr %q; want exit 0 and the commands on stdout", strings.Join(args, " "), code, stderr)
		}
		for _, cmd := range commandTable() {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(cmd.name) + ` +` + regexp.QuoteMeta(cmd.summary) + `$`).MatchString(stdout) {
				t.Errorf("cubesync %s does not list %s with its summary %q:\n%s", strings.Join(args, " "), cmd.name, cmd.summary, stdout)
			}
		}
	}
}

// A mistake in the command line is one line on stderr that says what was probably meant and
// where the help is, and exit code 2.
func TestUsageErrorsAreOneLineWithASuggestion(t *testing.T) {
	config := shippedConfig(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rn-job", "demo"}, `cubesync: unknown command "rn-job" (did you mean run-job?); see 'cubesync --help'`},
		{[]string{"run-job", "--dryrun", "demo"}, `cubesync run-job: unknown flag --dryrun (did you mean --dry-run?); see 'cubesync run-job --help'`},
		{[]string{"run-job", "--config", config, "dmo"}, `has no job "dmo" (did you mean demo?)`},
		{[]string{"history", "--config", config, "demoo"}, `has no job "demoo" (did you mean demo?)`},
		{[]string{"serve", "--lisen", ":1"}, `unknown flag --lisen (did you mean --listen?); see 'cubesync serve --help'`},
		{[]string{"state", "--config", config, "gett", "demo"}, `unknown state command "gett" (did you mean get?)`},
		{[]string{"run-job", "--timeout", "soon", "demo"}, `see 'cubesync run-job --help'`},
		{[]string{"run-job"}, `name at least one job to run; see 'cubesync run-job --help'`},
		{[]string{"help", "servee"}, `unknown command "servee" (did you mean serve?)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "see 'cubesync") {
				t.Errorf("stderr %q, want one line containing %q and pointing to the help", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// shippedConfig returns the absolute path of the repository's jobs.toml.
func shippedConfig(t *testing.T) string {
	t.Helper()
	config, err := filepath.Abs(filepath.Join("..", "..", "jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return config
}
