package jobs

import (
	"fmt"
	"strings"
	"testing"
)

func TestScrubberScrub(t *testing.T) {
	env := envOf(map[string]string{
		"PW":    "p@ss\"w\trd",
		"DIR":   "/data-x7",
		"DS":    "Sales-x7 2024", // contains no other value whole: replaced as one
		"CHUNK": "1000000",
		"ID":    "abc",
	})
	cfg := mustParse(t, `[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "0123456789ABCDEF0123456789ABCDEF"
username = "etl"
password = "${PW}"
[jobs.sales]
target = "mstr"
dataset = { name = "${DS}" }
chunk_size = "${CHUNK}"
[[jobs.sales.tables]]
name = "orders"
policy = "replace"
parquet = "${DIR}/*.parquet"
exclude = ["${ID}"]
`, env)
	s := cfg.Scrubber()
	for _, tc := range []struct{ in, want string }{
		{"open /data-x7/a.parquet: no such file", "open ${DIR}/a.parquet: no such file"},
		{fmt.Sprintf("login refused for password %q", "p@ss\"w\trd"), `login refused for password "${PW}"`},
		{"password p@ss\"w\trd in clear", "password ${PW} in clear"},
		{`dataset "Sales-x7 2024" created`, `dataset "${DS}" created`},
		// Digits-only values stay: row counts would be mangled; values under 4 bytes too.
		{"pushed 1000000 rows of table abc", "pushed 1000000 rows of table abc"},
	} {
		if got := s.Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (*Scrubber)(nil).Scrub("/data-x7"); got != "/data-x7" {
		t.Errorf("nil Scrubber changed %q to %q", "/data-x7", got)
	}
	if strings.Contains(s.Scrub(cfg.Jobs["sales"].Tables[0].Parquet), "data-x7") {
		t.Errorf("the expanded parquet path %q is not scrubbed", cfg.Jobs["sales"].Tables[0].Parquet)
	}
}
