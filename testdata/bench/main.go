// Command bench measures cubesync as its users run it: the `cubesync run-job` process, with
// the default settings, pushing a 6-column table (bigint, date, time, text, float8,
// timestamptz) into a draining server process on the same machine (`cubesync emulator
// --drain`), run after run alternated with a baseline of the same data:
//
//   - postgres: `psql -c "COPY (SELECT * FROM t) TO STDOUT (FORMAT binary)" > /dev/null`,
//     the database's own export of the query;
//   - parquet: a plain read of the file(s) into Arrow record batches, on one goroutine.
//
// It prints, per case, the median wall time of both, their ratio, rows/s, and the
// run-job process's peak RSS and CPU time (user+sys). Run it from the repository root:
//
//	CUBESYNC_TEST_DATABASE_URL=postgres://... go run ./testdata/bench -rows 2000000,10000000
//
// The Postgres data goes into a database of its own (-db, created when missing, tables
// kept between invocations); the Parquet files and the built binary under -dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/benchdata"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-read-parquet" {
		// The Parquet baseline, run as a process of its own like run-job.
		if err := readParquet(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	rows       []int
	runs       int
	dsn        string
	db         string
	dir        string
	cases      []string
	chunkSizes []string
	files      int
	parallel   int
	cpuProfile string
}

func run(ctx context.Context) error {
	var o options
	rows := flag.String("rows", "2000000", "comma-separated row counts")
	flag.IntVar(&o.runs, "runs", 3, "alternated runs of each case (the median is printed)")
	flag.StringVar(&o.dsn, "dsn", os.Getenv("CUBESYNC_TEST_DATABASE_URL"), "Postgres server to put the benchmark database on (default $CUBESYNC_TEST_DATABASE_URL)")
	flag.StringVar(&o.db, "db", "cubesync_bench", "the benchmark database, created when missing")
	flag.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "cubesync-bench"), "directory for the binary, the Parquet files and the runs' state")
	cases := flag.String("cases", "postgres,parquet,parquet-dir", "cases to run: postgres, parquet (one file), parquet-dir (a directory of -files files)")
	sizes := flag.String("chunk-sizes", "default", `chunk_size values to run each case with ("default" leaves it unset)`)
	flag.IntVar(&o.files, "files", 4, "files in the parquet-dir case")
	flag.IntVar(&o.parallel, "parallel", 0, "also run the postgres case with parallel = N (0: not)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each run-job run into this directory (for go tool pprof)")
	flag.Parse()
	for _, s := range strings.Split(*rows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-rows: %q is not a positive number", s)
		}
		o.rows = append(o.rows, n)
	}
	o.cases = strings.Split(*cases, ",")
	o.chunkSizes = strings.Split(*sizes, ",")
	if o.runs < 1 {
		return errors.New("-runs: must be at least 1")
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return err
		}
	}

	bin := filepath.Join(o.dir, "cubesync")
	fmt.Fprintln(os.Stderr, "building", bin)
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/cubesync").CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run this from the repository root): %v\n%s", err, out)
	}
	baseURL, stop, err := startServer(bin, o.dir)
	if err != nil {
		return err
	}
	defer stop()

	var results []result
	for _, n := range o.rows {
		var cs []benchCase
		for _, name := range o.cases {
			c, err := prepare(ctx, o, name, n)
			if err != nil {
				return err
			}
			cs = append(cs, c...)
		}
		var runs []benchRun
		for _, c := range cs {
			for _, size := range o.chunkSizes {
				r, err := newRun(o, bin, baseURL, c, size)
				if err != nil {
					return err
				}
				runs = append(runs, r)
			}
		}
		// Alternate: every case's baseline, then its run, once per round, so that what
		// else loads the machine weighs on all of them alike.
		for round := range o.runs {
			for i := range runs {
				r := &runs[i]
				fmt.Fprintf(os.Stderr, "round %d: %s %d rows, chunk_size %s\n", round+1, r.c.name, n, r.size)
				b, err := measure(r.c.baseline, "", "")
				if err != nil {
					return fmt.Errorf("%s baseline: %w", r.c.name, err)
				}
				var profile string
				if o.cpuProfile != "" {
					profile = filepath.Join(o.cpuProfile, fmt.Sprintf("%s-%d-%s-%d.pprof", r.label(), n, r.size, round+1))
				}
				m, err := measure(r.cmd, strconv.Itoa(n), profile)
				if err != nil {
					return fmt.Errorf("%s run-job: %w", r.c.name, err)
				}
				r.base = append(r.base, b)
				r.runs = append(r.runs, m)
			}
		}
		for _, r := range runs {
			results = append(results, r.result(n))
		}
	}
	print(os.Stdout, results)
	return nil
}

// benchCase is one source of the table: how to run the baseline, and the table's config.
type benchCase struct {
	name     string
	baseline []string
	sources  string // the [sources.*] sections of the config
	table    string // the [[jobs.bench.tables]] lines after name and policy
}

func prepare(ctx context.Context, o options, name string, rows int) ([]benchCase, error) {
	switch name {
	case "postgres":
		dsn, err := createTable(ctx, o, rows)
		if err != nil {
			return nil, err
		}
		query := fmt.Sprintf("SELECT * FROM bench_%d", rows)
		base := []string{"psql", "-X", "-q", "-d", dsn, "-c", "COPY (" + query + ") TO STDOUT (FORMAT binary)"}
		src := fmt.Sprintf("source = \"warehouse\"\nquery = %q\n", query)
		cs := []benchCase{{name: "postgres", baseline: base, table: src}}
		if o.parallel > 0 {
			cs = append(cs, benchCase{name: fmt.Sprintf("postgres parallel=%d", o.parallel), baseline: base,
				table: src + fmt.Sprintf("parallel = %d\n", o.parallel)})
		}
		for i := range cs {
			cs[i].sources = fmt.Sprintf("[sources.warehouse]\ntype = \"postgres\"\ndsn = %q\n", dsn)
		}
		return cs, nil
	case "parquet", "parquet-dir":
		files := 1
		if name == "parquet-dir" {
			files = o.files
		}
		path, err := writeParquet(o.dir, rows, files)
		if err != nil {
			return nil, err
		}
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		label := name
		if files > 1 {
			label = fmt.Sprintf("parquet, %d files", files)
		}
		return []benchCase{{name: label, baseline: []string{self, "-read-parquet", path}, table: fmt.Sprintf("parquet = %q\n", path)}}, nil
	}
	return nil, fmt.Errorf("-cases: unknown case %q (want postgres, parquet or parquet-dir)", name)
}

// label is the case's name as a file name.
func (c benchCase) label() string {
	return strings.NewReplacer(" ", "-", ",", "", "=", "").Replace(c.name)
}

// benchRun is one case at one chunk size: the run-job command and its measurements.
type benchRun struct {
	c          benchCase
	size       string
	cmd        []string
	base, runs []measurement
}

func newRun(o options, bin, baseURL string, c benchCase, size string) (benchRun, error) {
	dir := filepath.Join(o.dir, "runs", c.label()+"-"+size)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return benchRun{}, err
	}
	var chunk string
	if size != "default" {
		chunk = fmt.Sprintf("chunk_size = %q\n", size)
	}
	cfg := fmt.Sprintf(`[targets.drain]
base_url = %q
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "bench"
password = "bench"

%s
[jobs.bench]
target = "drain"
%sdataset = { name = "Bench" }

[[jobs.bench.tables]]
name = "facts"
policy = "replace"
%s`, baseURL, c.sources, chunk, c.table)
	cfgPath := filepath.Join(dir, "jobs.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return benchRun{}, err
	}
	// A fresh state directory: the dataset id is that of the server started for this run.
	if err := os.RemoveAll(filepath.Join(dir, ".cubesync")); err != nil {
		return benchRun{}, err
	}
	cmd := []string{bin, "run-job", "--config", cfgPath, "--progress", "none", "--log-format", "json", "bench"}
	return benchRun{c: c, size: size, cmd: cmd}, nil
}

type measurement struct {
	wall   time.Duration
	cpu    time.Duration // user + sys
	maxRSS int64         // bytes
}

// measure runs argv to completion with its output discarded (checked for the row count
// when wantRows is set) and returns its wall time, CPU time and peak RSS. With profile
// set, run-job writes a CPU profile there (CUBESYNC_CPU_PROFILE).
func measure(argv []string, wantRows, profile string) (measurement, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	if profile != "" {
		cmd.Env = append(os.Environ(), "CUBESYNC_CPU_PROFILE="+profile)
	}
	var out strings.Builder
	cmd.Stderr = &out
	if wantRows != "" {
		cmd.Stdout = &out
		cmd.Dir = filepath.Dir(argv[3]) // the run's directory: its state goes to .cubesync there
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measurement{}, fmt.Errorf("%v: %w\n%s", argv, err, out.String())
	}
	if wantRows != "" && !regexp.MustCompile(`(?m)^\s+facts\s+replace\s+`+wantRows+`\s`).MatchString(out.String()) {
		return measurement{}, fmt.Errorf("run-job did not report %s rows pushed:\n%s", wantRows, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return measurement{wall: wall, cpu: cpu, maxRSS: ru.Maxrss * 1024}, nil
}

type result struct {
	name, size string
	rows       int
	base, run  measurement // medians
	ratio      float64     // median of the per-round ratios
}

func (r benchRun) label() string { return r.c.label() }

func (r benchRun) result(rows int) result {
	ratios := make([]float64, len(r.runs))
	for i := range r.runs {
		ratios[i] = r.runs[i].wall.Seconds() / r.base[i].wall.Seconds()
	}
	return result{name: r.c.name, size: r.size, rows: rows, base: median(r.base), run: median(r.runs), ratio: medianOf(ratios)}
}

func median(ms []measurement) measurement {
	pick := func(f func(measurement) int64) int64 {
		v := make([]int64, len(ms))
		for i, m := range ms {
			v[i] = f(m)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return measurement{
		wall:   time.Duration(pick(func(m measurement) int64 { return int64(m.wall) })),
		cpu:    time.Duration(pick(func(m measurement) int64 { return int64(m.cpu) })),
		maxRSS: pick(func(m measurement) int64 { return m.maxRSS }),
	}
}

func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func print(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tchunk_size\trows\tbaseline\trun-job\tratio\trows/s\tpeak RSS\tCPU\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2fs\t%.2fs\t%.2f×\t%.2fM\t%.0f MB\t%.2fs\t\n", r.name, r.size, r.rows,
			r.base.wall.Seconds(), r.run.wall.Seconds(), r.ratio, float64(r.rows)/r.run.wall.Seconds()/1e6,
			float64(r.run.maxRSS)/1e6, r.run.cpu.Seconds())
	}
	tw.Flush()
}

// startServer starts `cubesync emulator --drain` on a free port and returns its base URL.
func startServer(bin, dir string) (string, func(), error) {
	cmd := exec.Command(bin, "emulator", "--drain", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logf.Close()
	}
	line := make([]byte, 256)
	n, _ := io.ReadAtLeast(stdout, line, 1)
	m := regexp.MustCompile(`http://\S+`).Find(line[:n])
	if m == nil {
		stop()
		return "", nil, fmt.Errorf("the emulator printed no base URL: %q", line[:n])
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return string(m), stop, nil
}

// createTable makes sure the benchmark database holds table bench_<rows> and returns the
// database's DSN.
func createTable(ctx context.Context, o options, rows int) (string, error) {
	if o.dsn == "" {
		return "", errors.New("no Postgres server: set -dsn or CUBESYNC_TEST_DATABASE_URL")
	}
	u, err := url.Parse(o.dsn)
	if err != nil {
		return "", fmt.Errorf("-dsn: %w", err)
	}
	admin, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", o.db).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{o.db}.Sanitize()); err != nil {
			return "", err
		}
	}
	u.Path = "/" + o.db
	dsn := u.String()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	table := fmt.Sprintf("bench_%d", rows)
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return dsn, nil
	}
	fmt.Fprintf(os.Stderr, "creating table %s\n", table)
	// The same values as the Parquet files (see writeParquet).
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s AS SELECT
		i::bigint * 7919 AS id,
		date '1970-01-01' + (19000 + i %% 3650)::int AS day,
		time '00:00' + (i %% 86400) * interval '1 second' AS at_time,
		'customer-' || (i %% 100000) AS label,
		i * 0.37::float8 AS value,
		timestamptz '2024-01-01 00:00:00+00' + (i::bigint * 1000003) * interval '1 microsecond' AS updated_at
		FROM generate_series(0, %[2]d - 1) AS i`, table, rows))
	if err != nil {
		return "", err
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE "+table) // set the hint bits once, not during the first run
	return dsn, err
}

// writeParquet writes (once) the benchmark table as files Parquet files of row groups of
// 128Ki rows under dir, and returns the file (files = 1) or the directory.
func writeParquet(dir string, rows, files int) (string, error) {
	out := filepath.Join(dir, fmt.Sprintf("parquet-%d-%d", rows, files))
	path := out
	if files == 1 {
		path = filepath.Join(out, "facts.parquet")
	}
	if _, err := os.Stat(filepath.Join(out, "done")); err == nil {
		return path, nil
	}
	fmt.Fprintf(os.Stderr, "writing %s\n", out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	schema := benchdata.Schema(true)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	per := (rows + files - 1) / files
	for f := range files {
		name := filepath.Join(out, "facts.parquet")
		if files > 1 {
			name = filepath.Join(out, fmt.Sprintf("part-%03d.parquet", f))
		}
		fh, err := os.Create(name)
		if err != nil {
			return "", err
		}
		w, err := pqarrow.NewFileWriter(schema, fh, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(128*1024)), pqarrow.DefaultWriterProps())
		if err != nil {
			return "", err
		}
		lo, hi := f*per, min(rows, (f+1)*per)
		for start := lo; start < hi; start += 64 * 1024 {
			benchdata.AppendRows(bld, start, min(hi, start+64*1024))
			rec := bld.NewRecordBatch()
			err := w.WriteBuffered(rec)
			rec.Release()
			if err != nil {
				return "", err
			}
		}
		if err := w.Close(); err != nil {
			return "", err
		}
	}
	return path, os.WriteFile(filepath.Join(out, "done"), nil, 0o644)
}

// readParquet reads every file at path (a file or a directory of *.parquet files) into
// Arrow record batches of 64Ki rows, one row group after another on one goroutine.
func readParquet(path string) error {
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.parquet"))
	}
	ctx := context.Background()
	var rows int64
	for _, name := range files {
		pf, err := file.OpenParquetFile(name, false)
		if err != nil {
			return err
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, memory.DefaultAllocator)
		if err != nil {
			return err
		}
		rr, err := fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			return err
		}
		for rr.Next() {
			rows += rr.RecordBatch().NumRows()
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		rr.Release()
		pf.Close()
	}
	if rows == 0 {
		return errors.New("no rows read")
	}
	return nil
}
