package main

import (
	"context"
	"fmt"

	"github.com/cubesync/cubesync/jobs/pgstate"
)

// runMigrate applies the migrations embedded in the binary to [state] database_url. Every
// command that opens the Postgres store applies them too; this one lets a deployment do it
// first, as a step of its own, with a user allowed to create the schema.
func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("migrate")
	path := configFlag(fs, e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badArgs(fmt.Errorf("unexpected argument %q (migrate takes only --config)", pos[0]))
	}
	cfg, err := readConfig(e, *path)
	if err != nil {
		return usageError(err)
	}
	if cfg.State.DatabaseURL == "" {
		return usageError(fmt.Errorf("%s has no [state] database_url: the local state store (./.cubesync) needs no migrations", cfg.File))
	}
	log, err := newLogger(e.stderr, "", e.scrubber)
	if err != nil {
		return err
	}
	if err := pgstate.Migrate(ctx, cfg.State.DatabaseURL, pgstate.WithMigrateLogger(log)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "state schema %q is up to date\n", pgstate.Schema)
	return nil
}
