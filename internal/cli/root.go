// Package cli is the phiwatch command: one binary whose subcommands are the
// roles (ingest, load, analyze, api), the all-in-one modes (all, demo) and
// the tools (migrate, parse, version).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/phiwatch/phiwatch/internal/config"
)

// Version is set at build time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// env is what a command runs with.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	summary string
	// flags defines the command's flags on fs and returns its runner.
	setup func(fs *flag.FlagSet, e *env) func(ctx context.Context, args []string) error
	usage string // argument synopsis
}

func commands() map[string]command {
	return map[string]command{
		"all":      {summary: "run every role in one process: ingest, bus, loader, analyze, API (embedded store)", setup: setupAll, usage: "[flags] [file ...]"},
		"demo":     {summary: "generate a practice's month of activity and run it through the pipeline", setup: setupDemo},
		"bench":    {summary: "measure detection on the demo practice: precision, recall, explained share, latency", setup: setupBench, usage: benchUsage},
		"ingest":   {summary: "read files, receive syslog or pull APIs, parse, and publish events to Kafka", setup: setupIngest, usage: "--format F --tenant T [file|- ...] [--syslog-udp|--syslog-tcp|--syslog-tls ADDR] | --sources sources.yaml --state-dir DIR"},
		"load":     {summary: "consume events and dead letters from Kafka and insert them into ClickHouse", setup: setupLoad},
		"analyze":  {summary: "run the detectors over stored events and write alerts", setup: setupAnalyze},
		"api":      {summary: "serve the HTTP API and reviewer UI", setup: setupAPI},
		"migrate":  {summary: "create or upgrade the ClickHouse schema (idempotent)", setup: setupMigrate},
		"parse":    {summary: "parse a log file and print normalized events as NDJSON", setup: setupParse, usage: "--format NAME [file|-] | --list"},
		"roster":   {summary: "import a practice's workforce roster (CSV)", setup: setupRoster, usage: "--tenant TENANT roster.csv"},
		"query":    {summary: "run one SQL query on the store and print the rows as NDJSON", setup: setupQuery, usage: "[flags] 'SQL'"},
		"version":  {summary: "print the version and what this binary can use", setup: setupVersion},
		"replay":   {summary: "replay exported logs through the pipeline on a fresh embedded store and write the alerts as NDJSON", setup: setupReplay, usage: replayUsage},
		"review":   {summary: "monthly log review: open a period, list periods, tenant settings, run the reminder job", setup: setupReview, usage: reviewUsage},
		"suppress": {summary: "record, list or revoke suppressions of expected alerts", setup: setupSuppress, usage: suppressUsage},
		"records":  {summary: "compliance records: breach clock, evidence binder, demo records", setup: setupRecords, usage: recordsUsage},
		"token":    {summary: "create, list or revoke API tokens for machines (shown once, stored hashed)", setup: setupToken, usage: tokenUsage},
		"grant":    {summary: "give people roles over tenants (OIDC subject or email), and manage tenant groups", setup: setupGrant, usage: grantUsage},

		"reference": {summary: "import reference feeds (roster, accounts, FHIR patients, practitioners, schedule) and list unlinked actors", setup: setupReference, usage: referenceUsage},
	}
}

func rootUsage(w io.Writer) {
	fmt.Fprintf(w, `phiwatch: HIPAA audit-log analytics and access review.

Usage: phiwatch <command> [flags]

Commands:
`)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, `
Every flag can also be set in the environment (PHIWATCH_<FLAG>, e.g.
PHIWATCH_KAFKA_BROKERS) or in a YAML file given with --config, whose keys
are the flag names. Flags beat the environment, which beats the file.

Run 'phiwatch <command> --help' for a command's flags.
`)
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		rootUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "phiwatch: unknown command %q\n\n", name)
		rootUsage(stderr)
		return 2
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	fs := flag.NewFlagSet("phiwatch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := cmd.setup(fs, e)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: phiwatch %s %s\n\n%s.\n\nFlags (each also PHIWATCH_<NAME> or a key in the --config file):\n", name, cmd.usage, upperFirst(cmd.summary))
		fs.PrintDefaults()
	}
	res, err := config.Parse(fs, args[1:], e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiwatch %s: %v\n", name, err)
		return 2
	}
	if len(res.UnknownKeys) > 0 {
		fmt.Fprintf(stderr, "phiwatch %s: note: %s has keys this command does not use: %s\n", name, res.File, strings.Join(res.UnknownKeys, ", "))
	}
	if err := run(ctx, fs.Args()); err != nil {
		// -h after a subcommand: the flag set printed the usage.
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ec exitError
		if errors.As(err, &ec) {
			return ec.code
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return 130
		}
		fmt.Fprintf(stderr, "phiwatch %s: %v\n", name, err)
		return 1
	}
	return 0
}

// exitError ends a command with a status but no further message (it has
// already reported what went wrong).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// logFlags are the logging settings of every command.
type logFlags struct {
	level, format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
	}
}
