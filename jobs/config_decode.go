package jobs

// Decoding and validating jobs.toml, section by section ([state], [serve], [targets],
// [sources], [defaults], [jobs] and their tables), after config_reader.go has read the TOML:
// one cohesive thing, every rule a key has in one place, each problem reported with its
// line.

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sources/postgres"
)

// Built-in defaults, overridden by [defaults] and then by each job.
var (
	defaultSettings = JobSettings{
		ChunkSize:     100_000_000,
		Timeout:       2 * time.Hour,
		Overlap:       OverlapSkip,
		CatchupWindow: 6 * time.Hour,
		Retry:         Retry{Attempts: 3, InitialDelay: 30 * time.Second, MaxDelay: 10 * time.Minute},
	}
	defaultServe = Serve{Listen: "127.0.0.1:9746", ShutdownGrace: 25 * time.Second, MaxConcurrentRuns: runtime.NumCPU()}
)

const (
	minChunkSize = 1000          // 1KB
	maxChunkSize = 1_000_000_000 // 1GB
	maxNameLen   = 250           // the server's limit on dataset, table and column names
)

// cronParser reads schedules as the scheduler does: 5 fields or 6 with seconds first,
// descriptors (@daily, @every 1h) and an optional CRON_TZ= prefix.
func cronParser() cron.Parser {
	return cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

var (
	jobNameRE     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	hex32RE       = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
	queryParamRE  = regexp.MustCompile(`\$1([^0-9]|$)`)
	policyNames   = []string{string(sink.Add), string(sink.Update), string(sink.Upsert), string(sink.Replace)}
	roleNames     = []string{"attribute", "metric"}
	overlapNames  = []string{OverlapSkip, OverlapWait}
	loginModes    = []string{LoginStandard, LoginLDAP, LoginAPIToken}
	initialLayout = []string{time.RFC3339Nano, TimestampLayout, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", time.DateOnly}
)

func (d *decoder) config(root *tomlTable) *Config {
	cfg := &Config{
		Dir:      d.dir,
		Targets:  map[string]*Target{},
		Sources:  map[string]*Source{},
		Serve:    defaultServe,
		Defaults: defaultSettings,
		Jobs:     map[string]*Job{},
	}
	if st, ok := root.sub("state"); ok {
		cfg.State = d.state(st)
	}
	if tt, ok := root.sub("targets"); ok {
		for _, name := range tt.names() {
			if t, ok := tt.sub(name); ok {
				cfg.Targets[name] = d.target(name, t)
			}
		}
	}
	if st, ok := root.sub("sources"); ok {
		for _, name := range st.names() {
			if s, ok := st.sub(name); ok {
				cfg.Sources[name] = d.source(name, s)
			}
		}
	}
	if sv, ok := root.sub("serve"); ok {
		d.serve(sv, &cfg.Serve)
	}
	cfg.Notify = map[string]*Notifier{}
	if nt, ok := root.sub("notify"); ok {
		for _, name := range nt.names() {
			if n, ok := nt.sub(name); ok {
				cfg.Notify[name] = d.notifier(name, n)
			}
		}
	}
	if df, ok := root.sub("defaults"); ok {
		cfg.Defaults = d.settings(df, cfg.Defaults)
		cfg.DefaultNotify = d.notifyList(cfg, df, nil)
		df.finish()
	}
	if jt, ok := root.sub("jobs"); ok {
		for _, name := range jt.names() {
			if j, ok := jt.sub(name); ok {
				if job := d.job(cfg, name, j); job != nil {
					cfg.Jobs[name] = job
				}
			}
		}
	}
	d.sharedDatasets(cfg)
	root.finish()
	return cfg
}

// sharedDatasets refuses two jobs that write one dataset: the same dataset.id, or the same
// dataset.name in the same folder, on one server and project (two targets may name the
// same one). Each run of one would replace or mix the other's tables, and with the same
// name the second job's first run creates the dataset again over the first's.
func (d *decoder) sharedDatasets(cfg *Config) {
	type owner struct {
		job  string
		line int
	}
	seen := map[string]owner{}
	names := make([]string, 0, len(cfg.Jobs))
	for name := range cfg.Jobs {
		names = append(names, name)
	}
	// In file order, so the problem is reported on the later job.
	slices.SortFunc(names, func(a, b string) int {
		return d.line(keyPath{"jobs", a, "dataset"}) - d.line(keyPath{"jobs", b, "dataset"})
	})
	for _, name := range names {
		j := cfg.Jobs[name]
		if j.Target == nil || (j.Dataset.Name == "" && j.Dataset.ID == "") {
			continue // reported already
		}
		server := serverIdentity(j.Target)
		p := keyPath{"jobs", name, "dataset"}
		check := func(key, what string, at keyPath) {
			if prev, ok := seen[key]; ok {
				where := "a job before it"
				if prev.line > 0 {
					where = fmt.Sprintf("jobs.toml line %d", prev.line)
					if d.file != "" {
						where = fmt.Sprintf("%s:%d", d.file, prev.line)
					}
				}
				d.problemf(at, "job %s (%s) writes the same dataset, %s on target %s: two jobs pushing into one dataset replace each other's data; give each job its own dataset, or put the tables of both in one job",
					prev.job, where, what, j.Target.Name)
				return
			}
			seen[key] = owner{job: name, line: d.line(p)}
		}
		if j.Dataset.ID != "" {
			check(server+"|id|"+strings.ToUpper(j.Dataset.ID), fmt.Sprintf("id %s", d.shown(p.key("id"), j.Dataset.ID)), p.key("id"))
		}
		if j.Dataset.Name != "" {
			check(server+"|folder|"+strings.ToUpper(j.Target.FolderID)+"|name|"+strings.ToLower(strings.TrimSpace(j.Dataset.Name)),
				fmt.Sprintf("%q", d.shown(p.key("name"), j.Dataset.Name)), p.key("name"))
		}
	}
}

// SameProject reports whether t and o push to one server and project, so that a dataset id
// on one is the same dataset on the other.
func (t *Target) SameProject(o *Target) bool {
	return serverIdentity(t) == serverIdentity(o)
}

// serverIdentity names the server and project a target pushes to, so two targets for one
// project compare equal: scheme, host and path case-folded where the server ignores case.
func serverIdentity(t *Target) string {
	if t.Embedded() {
		return EmbeddedURL
	}
	base := strings.TrimSuffix(strings.TrimRight(t.BaseURL, "/"), "/api")
	if u, err := url.Parse(base); err == nil {
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		base = u.String()
	}
	return base + "|" + strings.ToUpper(t.ProjectID)
}

func (d *decoder) state(t *tomlTable) State {
	var s State
	if u, ok := t.secret("database_url"); ok && u != "" {
		if strings.Contains(u, "://") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") || !strings.Contains(u, "://") && !strings.Contains(u, "=") {
			t.d.problemf(t.path.key("database_url"), `want a Postgres URL ("postgres://user:password@host:5432/db") or key=value connection string, or "" for local state under ./.cubesync`)
		} else {
			s.DatabaseURL = u
		}
	}
	t.finish()
	return s
}

func (d *decoder) target(name string, t *tomlTable) *Target {
	tg := &Target{Name: name, LoginMode: LoginStandard, RequestTimeout: sink.DefaultRequestTimeout, CallRetries: sink.DefaultCallRetries, CallBackoff: sink.DefaultCallBackoff}
	if base, ok := t.str("base_url"); ok {
		tg.BaseURL = d.baseURL(t.path.key("base_url"), base)
	} else if !t.has("base_url") {
		t.missing("base_url", `the server's URL such as "https://mstr.example.com/MicroStrategyLibrary", or "embedded" for the built-in emulator`)
	}
	embedded := tg.Embedded()
	if mode, ok := t.oneOf("login_mode", "login_mode", loginModes...); ok {
		tg.LoginMode = mode
	}
	if id, ok := t.str("project_id"); ok {
		if !embedded && !hex32RE.MatchString(id) {
			d.problemf(t.path.key("project_id"), "want the project's id, 32 hex digits (got %q)", d.shown(t.path.key("project_id"), id))
		}
		tg.ProjectID = id
	} else if !t.has("project_id") && !embedded {
		t.missing("project_id", "the project's id, 32 hex digits")
	}
	if u, ok := t.str("username"); ok {
		if u == "" && !embedded && tg.LoginMode != LoginAPIToken {
			d.problemf(t.path.key("username"), "is empty (want the user to log in as)")
		}
		tg.Username = u
	}
	if pw, ok := t.secret("password"); ok {
		tg.Password = pw
	}
	switch {
	case embedded:
	case tg.LoginMode == LoginAPIToken:
		if !t.has("username") && !t.has("password") {
			t.missing("username", `the API token, best from the environment: username = "${MSTR_API_TOKEN}" (or give it as password)`)
		}
	default:
		if !t.has("username") {
			t.missing("username", "the user to log in as")
		}
		if !t.has("password") {
			t.missing("password", `the user's password, best from the environment: password = "${MSTR_PASSWORD}"`)
		}
	}
	if id, ok := t.str("folder_id"); ok {
		if id != "" && !hex32RE.MatchString(id) {
			d.problemf(t.path.key("folder_id"), "want the folder's id, 32 hex digits, or \"\" for the server's default (got %q)", d.shown(t.path.key("folder_id"), id))
		}
		tg.FolderID = id
	}
	if f, ok := t.str("tls_ca_file"); ok && f != "" {
		tg.TLSCAFile = d.resolve(f)
	}
	if b, ok := t.boolean("insecure_skip_verify"); ok {
		tg.InsecureSkipVerify = b
	}
	t.positive("request_timeout", &tg.RequestTimeout)
	t.intBetween("call_retries", 0, 100, &tg.CallRetries, "must be between 0 (no retry) and 100 (got %s)")
	t.positive("call_backoff", &tg.CallBackoff)
	t.finish()
	return tg
}

func (d *decoder) baseURL(p keyPath, s string) string {
	if s == EmbeddedURL {
		return s
	}
	u, err := url.Parse(s)
	// redacted is how problems show the URL: as written when it came from ${VAR}
	// expansion, else without its password.
	redacted := func() string {
		if d.fromEnv(p) {
			return d.shown(p, s)
		}
		return u.Redacted()
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		shown := fmt.Sprintf("%q", d.shown(p, s))
		if err == nil && u.User != nil {
			shown = fmt.Sprintf("%q", redacted())
		} else if err != nil && !d.fromEnv(p) {
			shown = "a URL that does not parse"
		}
		d.problemf(p, `want "https://host/MicroStrategyLibrary" or "embedded" (got %s)`, shown)
		return ""
	}
	if u.User != nil {
		d.problemf(p, "credentials do not belong in base_url (%q): set username and password", redacted())
		return ""
	}
	if u.RawQuery != "" || u.Fragment != "" {
		d.problemf(p, `%q has a query or fragment (want "https://host/MicroStrategyLibrary")`, redacted())
		return ""
	}
	return strings.TrimRight(s, "/")
}

func (d *decoder) source(name string, t *tomlTable) *Source {
	s := &Source{Name: name}
	if typ, ok := t.oneOf("type", "source type", "postgres"); ok {
		s.Type = typ
	} else if !t.has("type") {
		t.missing("type", `"postgres"`)
	}
	if dsn, ok := t.secret("dsn"); ok {
		if dsn == "" {
			d.problemf(t.path.key("dsn"), "is empty (want a Postgres URL or key=value connection string)")
		}
		s.DSN = dsn
	} else if !t.has("dsn") {
		t.missing("dsn", `a Postgres connection string, best from the environment: dsn = "${WAREHOUSE_DSN}"`)
	}
	t.finish()
	return s
}

func (d *decoder) serve(t *tomlTable, s *Serve) {
	if l, ok := t.str("listen"); ok {
		host, port, err := net.SplitHostPort(l)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
			d.problemf(t.path.key("listen"), `invalid address %q (want host:port such as "127.0.0.1:9746" or ":9746")`, d.shown(t.path.key("listen"), l))
		} else {
			s.Listen = l
		}
	}
	t.nonNegative("shutdown_grace", &s.ShutdownGrace)
	t.intBetween("max_concurrent_runs", 1, 10_000, &s.MaxConcurrentRuns, "must be between 1 and 10000 (got %s): it is how many runs one serve process starts at once")
	if tok, ok := t.secret("admin_token"); ok && tok != "" {
		if len(tok) < 16 {
			d.problemf(t.path.key("admin_token"), "is %d characters long, want at least 16 (generate one with: openssl rand -hex 32), best from the environment: admin_token = \"${CUBESYNC_ADMIN_TOKEN}\"", len(tok))
		} else {
			s.AdminToken = tok
		}
	}
	t.finish()
}

var eventNames = []string{EventFailure, EventRecovery, EventSuccess, EventMissed}

func (d *decoder) notifier(name string, t *tomlTable) *Notifier {
	n := &Notifier{Name: name, On: []string{EventFailure, EventRecovery}}
	if u, ok := t.secret("url"); ok {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			// The URL is not shown: webhook URLs carry their token.
			d.problemf(t.path.key("url"), `want the webhook's http(s) URL, best from the environment: url = "${OPS_WEBHOOK_URL}"`)
		} else {
			n.URL = u
		}
	} else if !t.has("url") {
		t.missing("url", `the webhook's URL, best from the environment: url = "${OPS_WEBHOOK_URL}"`)
	}
	if on, ok := t.list("on"); ok {
		for i, ev := range on {
			if !slices.Contains(eventNames, ev) {
				d.problemf(t.path.key("on").index(i), "unknown event %q (want %s)", d.shown(t.path.key("on").index(i), ev), orList(eventNames))
			}
		}
		if len(on) == 0 {
			d.problemf(t.path.key("on"), "is empty: name the events to send (%s), or remove the notifier", orList(eventNames))
		}
		n.On = on
	}
	t.finish()
	return n
}

// notifyList reads notify = ["name", ...] of [defaults] or a job; without the key it is base.
func (d *decoder) notifyList(cfg *Config, t *tomlTable, base []*Notifier) []*Notifier {
	names, ok := t.list("notify")
	if !ok {
		return base
	}
	out := []*Notifier{}
	for i, name := range names {
		n := cfg.Notify[name]
		if n == nil {
			d.problemf(t.path.key("notify").index(i), "unknown notifier %q (%s)", d.shown(t.path.key("notify").index(i), name), defined("notify", cfg.Notify))
			continue
		}
		out = append(out, n)
	}
	return out
}

// settings applies the job settings keys of t (in [defaults] or a job) over base.
func (d *decoder) settings(t *tomlTable, base JobSettings) JobSettings {
	s := base
	if n, ok := t.size("chunk_size"); ok {
		if n < minChunkSize || n > maxChunkSize {
			d.problemf(t.path.key("chunk_size"), "must be between 1KB and 1GB (got %s)", d.shown(t.path.key("chunk_size"), formatSize(n)))
		} else {
			s.ChunkSize = n
		}
	}
	t.positive("timeout", &s.Timeout)
	if o, ok := t.oneOf("overlap", "overlap", overlapNames...); ok {
		s.Overlap = o
	}
	t.nonNegative("catchup_window", &s.CatchupWindow)
	t.nonNegative("jitter", &s.Jitter)
	if r, ok := t.sub("retry"); ok {
		if n, ok := r.integer("attempts"); ok {
			if n < 1 || n > 100 {
				d.problemf(r.path.key("attempts"), "must be between 1 (no retry) and 100 (got %s)", d.shown(r.path.key("attempts"), strconv.FormatInt(n, 10)))
			} else {
				s.Retry.Attempts = int(n)
			}
		}
		r.nonNegative("initial_delay", &s.Retry.InitialDelay)
		r.nonNegative("max_delay", &s.Retry.MaxDelay)
		if s.Retry.MaxDelay < s.Retry.InitialDelay {
			d.problemf(r.path, "max_delay (%s) is shorter than initial_delay (%s)",
				d.shown(r.path.key("max_delay"), s.Retry.MaxDelay.String()), d.shown(r.path.key("initial_delay"), s.Retry.InitialDelay.String()))
		}
		r.finish()
	}
	return s
}

func (d *decoder) job(cfg *Config, name string, t *tomlTable) *Job {
	if !jobNameRE.MatchString(name) || len(name) > 100 {
		d.problemf(t.path, "bad job name: use at most 100 letters, digits, - and _ (the name is typed on the command line and names state files)")
	}
	j := &Job{Name: name, JobSettings: d.settings(t, cfg.Defaults)}
	j.Notify = d.notifyList(cfg, t, cfg.DefaultNotify)
	j.Description, _ = t.str("description")
	if spec, ok := t.str("schedule"); ok && strings.TrimSpace(spec) != "" {
		j.Schedule = strings.TrimSpace(spec)
		sched, err := cronParser().Parse(j.Schedule)
		if err != nil {
			d.problemf(t.path.key("schedule"), "bad cron spec %q%s (want 5 fields \"m h dom mon dow\", 6 with seconds first, @daily/@hourly/@every 1h, optionally after CRON_TZ=Area/City)", d.shown(t.path.key("schedule"), spec), d.detail(t.path.key("schedule"), err))
		}
		j.ScheduleSpec = sched
	} else if t.has("jitter") {
		d.problemf(t.path.key("jitter"), "the job has no schedule: jitter delays scheduled slots (add a schedule, or remove jitter)")
	}
	if spec, ok := t.str("full_refresh"); ok && strings.TrimSpace(spec) != "" {
		j.FullRefresh = strings.TrimSpace(spec)
		sched, err := cronParser().Parse(j.FullRefresh)
		switch {
		case err != nil:
			d.problemf(t.path.key("full_refresh"), "bad cron spec %q%s (want a cron spec such as \"0 3 * * 0\": its slots run as full refreshes)", d.shown(t.path.key("full_refresh"), spec), d.detail(t.path.key("full_refresh"), err))
		case j.Schedule == "":
			d.problemf(t.path.key("full_refresh"), "the job has no schedule: full_refresh adds full-refresh slots to a scheduled job (for a one-off, use run-job --full-refresh)")
		default:
			j.FullRefreshSpec = sched
		}
	}
	if tn, ok := t.str("target"); ok {
		if j.Target = cfg.Targets[tn]; j.Target == nil {
			d.problemf(t.path.key("target"), "unknown target %q (%s)", d.shown(t.path.key("target"), tn), defined("targets", cfg.Targets))
		}
	} else if !t.has("target") {
		t.missing("target", "the name of a target: "+defined("targets", cfg.Targets))
	}
	if ds, ok := t.sub("dataset"); ok {
		if n, ok := ds.str("name"); ok {
			d.checkName(ds.path.key("name"), "dataset name", n)
			j.Dataset.Name = n
		} else if !ds.has("name") {
			ds.missing("name", "the dataset's name as it appears in MicroStrategy")
		}
		if id, ok := ds.str("id"); ok {
			if id != "" && !hex32RE.MatchString(id) {
				d.problemf(ds.path.key("id"), "want the id of an existing dataset, 32 hex digits, or \"\" to create it on the first run (got %q)", d.shown(ds.path.key("id"), id))
			}
			j.Dataset.ID = id
		}
		ds.finish()
	} else if !t.has("dataset") {
		t.missing("dataset", `a table such as dataset = { name = "Sales" }`)
	}
	if tables, ok := t.array("tables"); ok {
		seen := map[string]int{}
		for i, tt := range tables {
			tb := d.table(cfg, tt)
			if first, dup := seen[tb.Name]; dup && tb.Name != "" {
				d.problemf(tt.path.key("name"), "duplicate table name %q (also tables[%d]); table names are unique within a dataset", d.shown(tt.path.key("name"), tb.Name), first)
			} else {
				seen[tb.Name] = i
			}
			j.Tables = append(j.Tables, tb)
		}
		if len(tables) == 0 {
			d.problemf(t.path.key("tables"), "a job needs at least one table")
		}
	} else if !t.has("tables") {
		t.missing("tables", fmt.Sprintf("at least one [[%s.tables]]", t.path))
	}
	t.finish()
	return j
}

// defined describes the names a reference may use, for "unknown target" problems.
func defined[V any](what string, m map[string]V) string {
	if len(m) == 0 {
		return fmt.Sprintf("no [%s] are defined", what)
	}
	return "defined: " + strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

func (d *decoder) table(cfg *Config, t *tomlTable) *Table {
	tb := &Table{}
	if n, ok := t.str("name"); ok {
		before := len(d.problems)
		d.checkName(t.path.key("name"), "table name", n)
		tb.Name = n
		if len(d.problems) == before { // a name the server refuses would only add noise
			if d.tableNames == nil {
				d.tableNames = map[string]string{}
			}
			d.tableNames[t.path.String()] = d.shown(t.path.key("name"), n)
		}
	} else if !t.has("name") {
		t.missing("name", "the table's name in the dataset")
	}
	if p, ok := t.oneOf("policy", "policy", policyNames...); ok {
		tb.Policy = sink.Policy(p)
	} else if !t.has("policy") {
		t.missing("policy", orList(policyNames))
	}
	d.tableInput(cfg, t, tb)

	if key, ok := t.list("key"); ok {
		for i, k := range key {
			d.checkName(t.path.key("key").index(i), "column name", k)
			if slices.Index(key, k) < i {
				d.problemf(t.path.key("key").index(i), "column %q is listed twice", d.shown(t.path.key("key").index(i), k))
			}
		}
		tb.Key = key
		if len(key) == 0 && (tb.Policy == sink.Update || tb.Policy == sink.Upsert) {
			d.problemf(t.path.key("key"), "is empty: policy %q matches rows on the key columns, so name them (key = [\"order_id\"]), or use policy = \"replace\"", tb.Policy)
		}
	} else if !t.has("key") && (tb.Policy == sink.Update || tb.Policy == sink.Upsert) {
		t.missing("key", fmt.Sprintf(`the columns rows are matched on, e.g. key = ["order_id"]: policy %q updates rows by key; or use policy = "replace"`, tb.Policy))
	}
	if ex, ok := t.list("exclude"); ok {
		for i, c := range ex {
			if slices.Contains(tb.Key, c) {
				d.problemf(t.path.key("exclude").index(i), "column %q is in key, and key columns must be pushed: remove it from exclude or from key", d.shown(t.path.key("exclude").index(i), c))
			}
		}
		tb.Exclude = ex
	}
	d.incremental(t, tb)
	if cols, ok := t.sub("columns"); ok {
		tb.Columns = map[string]ColumnOverride{}
		for _, name := range cols.names() {
			if c, ok := cols.sub(name); ok {
				tb.Columns[name] = d.column(c, name, tb)
			}
		}
	}
	if b, ok := t.boolean("allow_empty"); ok {
		tb.AllowEmpty = b
	}
	d.parallel(t, tb)
	t.finish()
	return tb
}

// parallel reads how many connections a query table's read is split over, and by what.
func (d *decoder) parallel(t *tomlTable, tb *Table) {
	tb.Parallel = 1
	if n, ok := t.integer("parallel"); ok {
		switch {
		case tb.Parquet != "":
			d.problemf(t.path.key("parallel"), "is for query tables (parquet files are always read several row groups at a time)")
		case n < 1 || n > postgres.MaxParallel:
			d.problemf(t.path.key("parallel"), "want 1 to %d connections (got %d)", postgres.MaxParallel, n)
		default:
			tb.Parallel = int(n)
		}
	}
	if c, ok := t.str("parallel_column"); ok {
		switch {
		case strings.TrimSpace(c) == "":
			d.problemf(t.path.key("parallel_column"), "is empty (want an integer column of the query's result)")
		case tb.Parallel < 2 && !t.has("parallel"):
			d.problemf(t.path.key("parallel_column"), "splits a read over several connections, but parallel is not set: add parallel = 4 (say)")
		default:
			tb.ParallelColumn = c
		}
	}
}

// tableInput reads where a table's rows come from: a query on a source, or parquet files.
func (d *decoder) tableInput(cfg *Config, t *tomlTable, tb *Table) {
	query, hasQuery := t.str("query")
	parquet, hasParquet := t.str("parquet")
	srcName, hasSource := t.str("source")
	switch {
	case t.has("query") && t.has("parquet"):
		d.problemf(t.path, "has both query and parquet: a table reads either a query (with source) or parquet files")
	case !t.has("query") && !t.has("parquet"):
		d.problemf(t.path, `has neither query nor parquet: a table reads a query (with source = "name") or parquet files (parquet = "path")`)
	case hasQuery:
		if strings.TrimSpace(query) == "" {
			d.problemf(t.path.key("query"), "is empty")
		}
		tb.Query = query
		if hasSource {
			if tb.Source = cfg.Sources[srcName]; tb.Source == nil {
				d.problemf(t.path.key("source"), "unknown source %q (%s)", d.shown(t.path.key("source"), srcName), defined("sources", cfg.Sources))
			}
		} else if !t.has("source") {
			t.missing("source", "the name of the source the query runs on: "+defined("sources", cfg.Sources))
		}
	case hasParquet:
		if parquet == "" {
			d.problemf(t.path.key("parquet"), "is empty (want a file, a directory or a glob)")
			break
		}
		if _, err := filepath.Match(parquet, ""); err != nil {
			d.problemf(t.path.key("parquet"), "bad glob %q%s", d.shown(t.path.key("parquet"), parquet), d.detail(t.path.key("parquet"), err))
		}
		tb.Parquet = d.resolve(parquet)
		tb.ParquetPattern, tb.BaseDir = parquet, d.dir
		if t.has("source") {
			d.problemf(t.path.key("source"), "only query tables have a source; this table reads parquet files")
		}
	}
}

func (d *decoder) incremental(t *tomlTable, tb *Table) {
	inc, ok := t.sub("incremental")
	if !ok {
		if tb.Query != "" && queryParamRE.MatchString(tb.Query) {
			d.problemf(t.path.key("query"), `uses $1, which is the incremental watermark, but the table has no incremental = { column = "...", initial = "..." }`)
		}
		return
	}
	tb.Incremental = &Incremental{}
	if tb.Policy == sink.Replace {
		d.problemf(inc.path, `an incremental table cannot use policy "replace": replace empties the table and the run would push only the new rows; use add, update or upsert`)
	}
	col, hasCol := inc.str("column")
	initial, _ := d.initial(inc)
	files, hasFiles := inc.oneOf("files", "files", "new")
	switch {
	case tb.Parquet != "":
		if inc.has("column") || inc.has("initial") {
			d.problemf(inc.path, `a parquet table is incremental by files: incremental = { files = "new" } (column and initial are for query tables)`)
		} else if !inc.has("files") {
			inc.missing("files", `"new": only files not loaded by an earlier successful run are read`)
		}
		tb.Incremental.NewFiles = hasFiles && files == "new"
		if _, p, ok := inc.lookup("lookback"); ok {
			d.problemf(p, `is for query tables: a parquet table loads whole new files, so there is no window to read again (remove lookback)`)
		}
	case tb.Query != "":
		if inc.has("files") {
			d.problemf(inc.path.key("files"), `files = "new" is for parquet tables; a query table is incremental by column: incremental = { column = "updated_at", initial = "..." }`)
		}
		switch {
		case hasCol && col == "":
			d.problemf(inc.path.key("column"), "is empty (want the column whose greatest value becomes the next run's $1)")
		case !inc.has("column"):
			inc.missing("column", "the column whose greatest value among pushed rows is passed as $1 to the next run")
		}
		if !inc.has("initial") {
			inc.missing("initial", `the $1 of the first run, e.g. "1970-01-01T00:00:00Z" or 0 to load everything`)
		}
		if hasCol && !queryParamRE.MatchString(tb.Query) {
			d.problemf(t.path.key("query"), "does not use $1: an incremental query must filter on the watermark, e.g. WHERE %s > $1", d.shown(inc.path.key("column"), col))
		}
		tb.Incremental.Column, tb.Incremental.Initial = col, initial
		inc.positive("lookback", &tb.Incremental.Lookback)
		switch {
		case !inc.has("lookback"):
		case tb.Policy == sink.Add:
			d.problemf(inc.path.key("lookback"), `cannot be used with policy "add": the rows in the lookback window are read again and would be added twice; use policy "upsert" (or "update") with a key`)
		case isIntegerText(initial):
			d.problemf(inc.path.key("lookback"), "needs a timestamp or date column: initial %s is an integer, and a duration cannot move an integer watermark back (remove lookback)", d.shown(inc.path.key("initial"), initial))
		}
	}
	inc.finish()
}

// initial reads incremental.initial: an integer, a date or a timestamp, as a string or
// as a TOML value, kept as the text that is passed as $1.
func (d *decoder) initial(inc *tomlTable) (string, bool) {
	v, p, ok := inc.lookup("initial")
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10), true
	case time.Time:
		if v.Location().String() == "time-local" {
			d.wrongType(p, v, "an integer, a date or a timestamp", false)
			return "", false
		}
		return tomlTime(v), true
	}
	s, ok := d.expand(v, p, false, "an integer, a date or a timestamp")
	if !ok {
		return "", false
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s, true
	}
	for _, layout := range initialLayout {
		if _, err := time.Parse(layout, s); err == nil {
			return s, true
		}
	}
	d.problemf(p, `invalid initial value %q (want an integer, a date "2024-01-31" or a timestamp "2024-01-31T00:00:00Z")`, d.shown(p, s))
	return "", false
}

func (d *decoder) column(c *tomlTable, name string, tb *Table) ColumnOverride {
	var o ColumnOverride
	d.checkName(c.path, "column name", name)
	if r, ok := c.oneOf("role", "role", roleNames...); ok {
		o.Role = r
	}
	if s, ok := c.str("type"); ok {
		dt, err := sink.ParseDataType(s)
		if err != nil && d.fromEnv(c.path.key("type")) {
			_, err = sink.ParseDataType(d.shown(c.path.key("type"), s))
		}
		if err != nil {
			d.problemf(c.path.key("type"), "%v", err)
		}
		o.Type = dt
	}
	if !c.has("role") && !c.has("type") {
		d.problemf(c.path, `sets nothing (want role = "attribute" or "metric", and/or type = a dataType)`)
	}
	c.finish()
	inKey := slices.Contains(tb.Key, name)
	switch {
	case slices.Contains(tb.Exclude, name):
		d.problemf(c.path, "column %q is excluded, so it is not pushed: remove the override or the exclude", name)
	case o.Role == "metric" && inKey:
		d.problemf(c.path.key("role"), "column %q is in key, and key columns are attributes", name)
	case o.Role == "attribute" && !inKey && (tb.Policy == sink.Update || tb.Policy == sink.Upsert):
		d.problemf(c.path.key("role"), "with policy %q rows are matched on the key's attributes, so every other column must be a metric: add %q to key, exclude it, or use policy = \"replace\"", tb.Policy, name)
	case o.Role == "metric" && o.Type != "" && !o.Type.Numeric():
		d.problemf(c.path, "role = \"metric\" needs a numeric type (INTEGER, BIGINTEGER, DOUBLE or BIGDECIMAL), not %s", o.Type)
	}
	return o
}

// checkName applies the server's rules for dataset, table and column names.
func (d *decoder) checkName(p keyPath, what, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		d.problemf(p, "%s is empty", what)
	case strings.ContainsAny(name, `\"[]`):
		d.problemf(p, `%s %q contains one of \ " [ ], which the server refuses in names`, what, d.shown(p, name))
	case utf8.RuneCountInString(name) > maxNameLen:
		d.problemf(p, "%s is %d characters long; the server allows at most %d", what, utf8.RuneCountInString(name), maxNameLen)
	}
}

// detail is ": " and err's text, to follow a value in a problem, or "" when the value at p
// came from ${VAR} expansion: parse errors quote pieces of the value they could not read.
func (d *decoder) detail(p keyPath, err error) string {
	if d.fromEnv(p) {
		return ""
	}
	return ": " + err.Error()
}

// resolve makes a path in the config relative to the config file's directory.
func (d *decoder) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

// isIntegerText reports whether s is an integer, as an integer watermark's text is.
func isIntegerText(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}
