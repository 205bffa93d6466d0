package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/pgstate"
)

func init() {
	commands["migrate"] = command{summary: "apply the Postgres state-store migrations", run: runMigrate}
}

// runMigrate applies the migrations embedded in the binary to [state] database_url. Every
// command that opens the Postgres store applies them too; this one lets a deployment do it
// first, as a step of its own, with a user allowed to create the schema.
func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := configFlag(fs, e)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cubesync migrate [--config jobs.toml]\n\nApplies the state-store migrations to the Postgres database of [state] database_url,\ncreating the cubesync schema if needed. Safe to run from several processes at once.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected argument %q (migrate takes only --config)", fs.Arg(0)))
	}
	cfg, err := jobs.Load(*path, func(k string) (string, bool) { return lookupEnv(e, k) })
	if err != nil {
		return usageError(err)
	}
	if cfg.State.DatabaseURL == "" {
		return usageError(fmt.Errorf("%s has no [state] database_url: the local state store (./.cubesync) needs no migrations", cfg.File))
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if err := pgstate.Migrate(ctx, cfg.State.DatabaseURL, pgstate.WithMigrateLogger(log)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "state schema %q is up to date\n", pgstate.Schema)
	return nil
}
