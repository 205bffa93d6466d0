package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cubesync/cubesync/sink/emulator"
)

func init() {
	commands["emulator"] = command{summary: "serve the built-in Push Data API emulator", run: runEmulator}
}

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
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	listen := fs.String("listen", "127.0.0.1:8910", "address to listen on")
	dataDir := fs.String("data-dir", "", "directory to persist datasets in (default: in memory)")
	publishDelay := fs.Duration("publish-delay", 0, "how long a publish stays in progress (status 6)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	bigIntAsInt := fs.Bool("bigint-as-integer", false, "dialect: the dataset definition codes BIGINTEGER columns as integer (dataType 1) with precision 8")
	statuses := fs.String("publish-statuses", "", "dialect: comma-separated in-progress statuses publishStatus reports, one per poll, before 1 (e.g. 4,8,9,10)")
	statusString := fs.Bool("status-as-string", false, `dialect: publishStatus sends status as a string ("1")`)
	codeDigits := fs.Int("error-code-digits", 3, "dialect: digits of error codes: 3 gives ERR009, 4 gives ERR0009")
	users := userFlags{}
	fs.Var(users, "user", "accepted `name:password` (repeatable; none = accept any credentials)")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if *publishDelay < 0 {
		return usageError(fmt.Errorf("--publish-delay: must not be negative (got %v)", *publishDelay))
	}
	// Debug level: a standalone emulator logs every request, which is what its users watch.
	hopts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(e.stderr, hopts)
	case "json":
		handler = slog.NewJSONHandler(e.stderr, hopts)
	default:
		return usageError(fmt.Errorf("--log-format: unknown format %q (want text or json)", *logFormat))
	}
	logger := slog.New(handler)

	opts := emulator.Options{DataDir: *dataDir, PublishDelay: *publishDelay, Logger: logger,
		BigIntegerAsInteger: *bigIntAsInt, StatusAsString: *statusString, ErrorCodeDigits: *codeDigits}
	if *codeDigits < 1 {
		return usageError(fmt.Errorf("--error-code-digits: must be between 1 and 6 (got %d)", *codeDigits))
	}
	for _, st := range splitList(*statuses) {
		n, err := strconv.Atoi(st)
		if err != nil {
			return usageError(fmt.Errorf("--publish-statuses: %q is not a number (want e.g. 4,8,9,10)", st))
		}
		opts.PublishStatuses = append(opts.PublishStatuses, n)
	}
	if len(users) > 0 {
		opts.Users = users
	}
	srv, err := emulator.New(opts)
	if err != nil {
		return usageError(err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another address with --listen)", *listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
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
