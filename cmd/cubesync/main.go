// Command cubesync runs ETL jobs that keep MicroStrategy datasets in sync with Postgres
// queries and Parquet files. main only wires: each subcommand lives in its own file as a
// small struct with its own flag.FlagSet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes, as the product contract gives them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitSkipped     = 3
	exitInterrupted = 130 // SIGINT
	exitTerminated  = 143 // SIGTERM
)

// exitError carries an exit code through an error chain.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags, arguments or config: exit code 2.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// env is what a command sees of the process: streams, environment and working directory.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// signal is set by main once the root context ends because of a signal.
	signal func() os.Signal
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is filled by the init functions of the subcommand files.
var commands = map[string]command{}

func main() {
	ctx, sig, stop := signalContext()
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, signal: sig}
	os.Exit(Run(ctx, e, os.Args[1:]))
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM, and a function
// reporting which signal it was. A second signal exits at once.
func signalContext() (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got = s
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(os.Stderr, "cubesync: second %v, exiting now\n", s)
			os.Exit(signalExitCode(s))
		case <-done:
		}
	}()
	which := func() os.Signal {
		if ctx.Err() == nil {
			return nil
		}
		return got
	}
	return ctx, which, func() { close(done); signal.Stop(ch); cancel() }
}

func signalExitCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// Run runs cubesync with args (without the program name) and returns the exit code.
func Run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "cubesync: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	if err == nil || errors.Is(err, flag.ErrHelp) { // -h printed the command's usage
		return exitOK
	}
	var ee *exitError
	code := exitFailed
	if errors.As(err, &ee) {
		code = ee.code
	}
	if ee == nil || ee.err != nil {
		fmt.Fprintf(e.stderr, "cubesync %s: %v\n", args[0], err)
	}
	return code
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: cubesync COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'cubesync COMMAND -h' for a command's flags.")
}
