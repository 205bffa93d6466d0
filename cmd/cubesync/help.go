package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cubesync/cubesync/internal/editdist"
)

// helpRequest is what parseArgs returns for -h or --help: Run prints the command's help,
// with the flags of fs, to stdout and exits 0.
type helpRequest struct{ flags *flag.FlagSet }

func (*helpRequest) Error() string { return "help requested" }

// newFlagSet returns the flag set of a command. It prints nothing itself: Run prints the
// help a user asks for and the one error line of a bad flag.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs, flags before or after the positional arguments
// (`run-job demo --dry-run` as well as `run-job --dry-run demo`), and returns the positional
// arguments. -h and --help give a *helpRequest; an unknown or bad flag, an error that makes
// Run print one line with a did-you-mean and a pointer to the command's help.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := checkFlagNames(fs, args); err != nil {
		return nil, err
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, &helpRequest{flags: fs}
	}
	if err != nil {
		return nil, badArgs(err)
	}
	return pos, nil
}

// checkFlagNames finds the first flag in args that fs does not define, so that the error
// can suggest the flag meant. Values of flags that take one are skipped.
func checkFlagNames(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			msg := fmt.Sprintf("unknown flag --%s", name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean --%s?)", s)
			}
			return badArgs(errors.New(msg))
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && (!ok || !b.IsBoolFlag()) {
			i++ // the flag's value
		}
	}
	return nil
}

// runHelp prints the commands, or the help of the command named.
func runHelp(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("help")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		printUsage(e.stdout)
		return nil
	case 1:
		cmd, ok := findCommand(pos[0])
		if !ok {
			return usageError(unknownCommand(pos[0]))
		}
		if cmd.name == "help" {
			return &helpRequest{flags: fs}
		}
		// The command's own flag set knows its flags and defaults: ask it for its help.
		err := cmd.run(ctx, e, []string{"--help"})
		var help *helpRequest
		if errors.As(err, &help) {
			printHelp(e.stdout, cmd, help.flags)
			return nil
		}
		return err
	}
	return badArgs(fmt.Errorf("help takes one command (got %q)", pos))
}

// unknownCommand says that name is no command, and which was probably meant.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commandTable() {
		names = append(names, c.name)
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return errors.New(msg + "; see 'cubesync --help'")
}

// printUsage writes the list of commands.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "cubesync keeps MicroStrategy datasets in sync with Postgres queries and Parquet files.")
	fmt.Fprintln(w, "\nusage: cubesync COMMAND [flags] [arguments]\n\ncommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commandTable() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, `
Run 'cubesync help COMMAND' or 'cubesync COMMAND --help' for a command's usage, flags and
an example. Exit codes: 0 success, 1 a job failed, 2 bad config or usage, 3 skipped (the job
runs elsewhere), 130/143 interrupted by SIGINT/SIGTERM.`)
}

// printHelp writes the help of cmd: summary, usage, what it does, flags with their
// defaults, and examples.
func printHelp(w io.Writer, cmd command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "cubesync %s: %s\n\n", cmd.name, cmd.summary)
	for i, u := range cmd.usage {
		prefix := "usage: "
		if i > 0 {
			prefix = "       "
		}
		fmt.Fprintf(w, "%scubesync %s\n", prefix, u)
	}
	if cmd.about != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.about)
	}
	if fs != nil {
		printFlags(w, fs)
	}
	if len(cmd.example) > 0 {
		fmt.Fprintln(w, "\nexample:")
		for _, x := range cmd.example {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
}

// printFlags lists the flags of fs, each with its default once: from the flag's default
// value, unless its description says what the default is.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		if arg != "" {
			name += " " + arg
		}
		switch f.DefValue {
		case "", "0", "0s", "false", "[]":
		default:
			if !strings.Contains(usage, "default") {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	tw.Flush()
}

// suggest returns the candidate closest to name, when it is close enough to be the one
// meant: a few letters apart, or one starting with the other.
func suggest(name string, candidates []string) string {
	best, bestDist := "", len(name)/3+2
	for _, c := range candidates {
		d := editdist.Levenshtein(name, c)
		if len(name) >= 3 && (strings.HasPrefix(c, name) || strings.HasPrefix(name, c)) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
