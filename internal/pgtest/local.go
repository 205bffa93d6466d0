//go:build unix

package pgtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// templateVersion names the initdb options below in the cache key: change it with them.
const templateVersion = "1"

// tempPrefix starts the names of the temporary directories that hold a cluster.
const tempPrefix = "cubesync-pgtest-"

// findBinaries returns the directory of the PostgreSQL server binaries: that of initdb on
// PATH, or the newest /usr/lib/postgresql/*/bin (Debian and Ubuntu keep them off PATH).
func findBinaries() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int { return majorOf(b) - majorOf(a) })
	for _, p := range found {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb and postgres) on PATH or in /usr/lib/postgresql/*/bin")
}

// majorOf reads the major version out of a path like /usr/lib/postgresql/15/bin/initdb.
func majorOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// templateCache is where initdb'ed clusters are kept between test runs; "" when the user
// has no cache directory, and then every test binary runs initdb.
func templateCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "cubesync", "pgtest")
}

var versionPattern = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// startLocal starts a throwaway cluster of the binaries in binDir: a copy of an initdb'ed
// template from cacheRoot (made there on first use) in a new temporary directory, with
// fsync off, listening on 127.0.0.1 on a free port and on a socket in that directory. Its
// superuser postgres gets a random password that TCP connections need. As root, the server
// runs as the postgres OS user: postgres refuses to run as root.
func startLocal(ctx context.Context, binDir, cacheRoot string) (*started, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("local postgres: %s --version: %w", filepath.Join(binDir, "postgres"), err)
	}
	version := strings.TrimSpace(string(out))
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("local postgres: cannot read the version in %q", version)
	}
	major, _ := strconv.Atoi(m[1])
	if major < 13 {
		return nil, fmt.Errorf("local postgres: %s is %s; the tests need PostgreSQL 13 or newer", binDir, version)
	}
	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}

	sweepLeftovers()
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("local postgres: %w", err)
	}
	c := &cluster{bin: binDir, dir: dir, data: filepath.Join(dir, "data"), owner: owner}
	srv, err := c.start(ctx, version, major, cacheRoot)
	if err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return srv, nil
}

// cluster is one throwaway Postgres cluster in dir.
type cluster struct {
	bin, dir, data string
	owner          *syscall.Credential // nil: the server runs as this process's user
	cmd            *exec.Cmd
	exited         chan struct{}
}

func (c *cluster) start(ctx context.Context, version string, major int, cacheRoot string) (*started, error) {
	// The directory names the test binary that owns it, so a later run can remove it when
	// that binary was killed before it could.
	if err := os.WriteFile(filepath.Join(c.dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("local postgres: %w", err)
	}
	if err := c.chown(c.dir); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(templateVersion + "\x00" + c.bin + "\x00" + version))
	template := ""
	if cacheRoot != "" {
		template = filepath.Join(cacheRoot, fmt.Sprintf("pg%d-%s", major, hex.EncodeToString(sum[:6])))
	}
	if err := c.initData(ctx, template); err != nil {
		return nil, err
	}

	password := randomHex(16)
	var lastErr error
	for range 3 { // another process may take the free port before the server binds it
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("local postgres: find a free port: %w", err)
		}
		lastErr = c.run(ctx, port, password)
		if lastErr == nil {
			admin := (&url.URL{
				Scheme:   "postgres",
				User:     url.UserPassword("postgres", password),
				Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				Path:     "/postgres",
				RawQuery: "sslmode=disable",
			}).String()
			return &started{
				adminDSN: admin,
				fileCopy: major >= 15,
				kind:     fmt.Sprintf("local PostgreSQL %d cluster in %s", major, c.dir),
				stop:     c.stop,
			}, nil
		}
		if !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
	}
	return nil, lastErr
}

// initData fills c.data: a copy of template when it exists, else a new initdb, copied to
// template for the next runs.
func (c *cluster) initData(ctx context.Context, template string) error {
	if template != "" {
		if _, err := os.Stat(filepath.Join(template, "PG_VERSION")); err == nil {
			if err := copyTree(template, c.data); err != nil {
				return fmt.Errorf("local postgres: copy the cached cluster %s: %w", template, err)
			}
			return c.chown(c.data)
		}
	}
	pwfile := filepath.Join(c.dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(randomHex(16)+"\n"), 0o600); err != nil {
		return fmt.Errorf("local postgres: %w", err)
	}
	if err := c.chown(pwfile); err != nil {
		return err
	}
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "postgres",
		"--pwfile", pwfile, "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
		"--no-sync", "--no-instructions")
	cmd.Dir, cmd.Stdout, cmd.Stderr = c.dir, &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.owner}
	err := cmd.Run()
	os.Remove(pwfile)
	if err != nil {
		return fmt.Errorf("local postgres: initdb: %w: %s", err, strings.TrimSpace(log.String()))
	}
	if template == "" {
		return nil
	}
	// Another test binary may be making the same template: each copies to its own
	// directory and the first rename wins.
	if err := os.MkdirAll(filepath.Dir(template), 0o755); err != nil {
		return nil // no cache: the next run initdbs again
	}
	staging, err := os.MkdirTemp(filepath.Dir(template), ".new-")
	if err != nil {
		return nil
	}
	if err := copyTree(c.data, filepath.Join(staging, "data")); err != nil || os.Rename(filepath.Join(staging, "data"), template) != nil {
		os.RemoveAll(staging)
		return nil
	}
	os.RemoveAll(staging)
	return nil
}

// run starts the server on port and waits until it accepts connections on its socket, then
// sets the superuser's password.
func (c *cluster) run(ctx context.Context, port int, password string) error {
	logPath := filepath.Join(c.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("local postgres: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data, "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		// Durability is worthless for a database that lives as long as a test binary.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "password_encryption=scram-sha-256")
	cmd.Dir, cmd.Stdout, cmd.Stderr = c.dir, logFile, logFile
	cmd.SysProcAttr = serverProcAttr(c.owner)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("local postgres: start %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited

	socketDSN := fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=5", c.dir, port)
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			c.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("local postgres: the server exited: %s", lastLines(string(log), 5))
		default:
		}
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := execSQL(try, socketDSN, "ALTER ROLE postgres PASSWORD '"+password+"'")
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("local postgres: the server did not accept connections within %s: %w", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server, if it runs, and removes its directory.
func (c *cluster) stop() error {
	var err error
	if c.cmd != nil {
		// An immediate shutdown: nothing in this cluster needs to survive.
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		c.cmd = nil
	}
	if rmErr := os.RemoveAll(c.dir); rmErr != nil {
		err = fmt.Errorf("remove %s: %w", c.dir, rmErr)
	}
	return err
}

// chown gives path and everything under it to the server's OS user, when that is not this
// process's user.
func (c *cluster) chown(path string) error {
	if c.owner == nil {
		return nil
	}
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.owner.Uid), int(c.owner.Gid))
	})
	if err != nil {
		return fmt.Errorf("local postgres: give %s to the postgres user: %w", path, err)
	}
	return nil
}

// serverOwner returns the credentials the server runs with: those of the postgres OS user
// when this process runs as root, else nil (this process's user).
func serverOwner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("local postgres: the tests run as root, which postgres refuses, and there is no postgres user to run it as (%w): create one (useradd --system postgres) or run the tests as another user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("local postgres: the postgres user has uid %q, gid %q: want numbers", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// sweepLeftovers removes the cluster directories of test binaries that were killed before
// they could (a go test -timeout panic skips pgtest.Run's cleanup); their servers died with
// them (see serverProcAttr).
func sweepLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// copyTree copies the directory tree src to dst, which must not exist, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil // sockets and the like: a stopped cluster has none
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lastLines returns the last n lines of s on one line, for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
