package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cubesync/cubesync/sink/emulator"
)

// userFlags collects repeated --user name:password flags.
type userFlags map[string]string

func (u userFlags) String() string {
	names := make([]string, 0, len(u))
	for n := range u {
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func (u userFlags) Set(v string) error {
	name, password, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return errors.New("want name:password")
	}
	u[name] = password
	return nil
}

func runEmulator(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("emulator")
	listen := fs.String("listen", "127.0.0.1:8910", "`address` to listen on")
	dataDir := fs.String("data-dir", "", "`directory` to persist datasets in (default: in memory)")
	publishDelay := fs.Duration("publish-delay", 0, "how long a publish stays in progress (status 6)")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, json otherwise), text or json")
	bigIntAsInt := fs.Bool("bigint-as-integer", false, "dialect: the dataset definition codes BIGINTEGER columns as integer (dataType 1) with precision 8")
	statuses := fs.String("publish-statuses", "", "dialect: comma-separated in-progress `statuses` publishStatus reports, one per poll, before 1 (e.g. 4,8,9,10)")
	statusString := fs.Bool("status-as-string", false, `dialect: publishStatus sends status as a string ("1")`)
	codeDigits := fs.Int("error-code-digits", 3, "dialect: `digits` of error codes: 3 gives ERR009, 4 gives ERR0009")
	drain := fs.Bool("drain", false, "read and drop chunk bodies without checking them, as a server on its own machine costs the client nothing more (for benchmarks)")
	users := userFlags{}
	fs.Var(users, "user", "accepted `name:password` (repeatable; none = accept any credentials); with it, the /emulator/ endpoints need one too (HTTP basic authentication)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badArgs(fmt.Errorf("unexpected arguments %q", pos))
	}
	if *publishDelay < 0 {
		return badArgs(fmt.Errorf("--publish-delay: must not be negative (got %v)", *publishDelay))
	}
	// The same logger as every command: sessions, publishes and failed requests at INFO and
	// above, text on a terminal and JSON otherwise.
	logger, err := newLogger(e.stderr, *logFormat, nil)
	if err != nil {
		return err
	}

	opts := emulator.Options{DataDir: *dataDir, PublishDelay: *publishDelay, Logger: logger,
		BigIntegerAsInteger: *bigIntAsInt, StatusAsString: *statusString, ErrorCodeDigits: *codeDigits}
	if *codeDigits < 1 {
		return badArgs(fmt.Errorf("--error-code-digits: must be between 1 and 6 (got %d)", *codeDigits))
	}
	for _, st := range splitList(*statuses) {
		n, err := strconv.Atoi(st)
		if err != nil {
			return badArgs(fmt.Errorf("--publish-statuses: %q is not a number (want e.g. 4,8,9,10)", st))
		}
		opts.PublishStatuses = append(opts.PublishStatuses, n)
	}
	if len(users) > 0 {
		opts.Users = users
	}
	srv, err := emulator.New(opts)
	if err != nil {
		return badArgs(err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another address with --listen)", *listen, err)
	}
	var h http.Handler = srv
	if *drain {
		h = drainChunks(srv, logger)
	}
	hs := newHTTPServer(h, emulatorLimits())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(e.stdout, "emulator serving: base URL http://%s/MicroStrategyLibrary\n", ln.Addr())
	logger.Info("emulator started", "listen", ln.Addr().String(), "data_dir", *dataDir, "users", len(users))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := srv.Close(); err != nil {
		return err
	}
	logger.Info("emulator stopped")
	return nil
}

// drainChunks answers chunk uploads (PUT …/uploadSessions/{id}) by reading and dropping the
// body, and hands every other call to next: a benchmark then measures what the client costs,
// not the emulator's validation on the same cores.
func drainChunks(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/uploadSessions/") {
			next.ServeHTTP(w, r)
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		logger.Debug("chunk drained", "path", r.URL.Path, "bytes", n)
		w.WriteHeader(http.StatusOK)
	})
}
