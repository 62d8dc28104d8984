package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

const referenceUsage = `import --tenant T --kind KIND FILE|- | unlinked --tenant T [--from --to] | relink --tenant T | resolve --tenant T ACTOR...

  import    store a reference file as a new version, then rebuild identity links
            KIND: roster, accounts (CSV); patients, practitioners,
            practitioner-roles, appointments, encounters (FHIR R4 NDJSON or Bundle)
  unlinked  list the actors in the tenant's events that link to no workforce member
  relink    rebuild the tenant's identity links now (after new events arrived)
  resolve   show who each actor id links to, how, and why

Feeds: docs/reference-feeds.md, docs/roster.md. Identity rules: docs/identity.md`

// maxListedRejects bounds the rejected records printed for one import; the
// count is always given.
const maxListedRejects = 50

// referenceFlags are the flags of `phiwatch reference` and `phiwatch roster`.
type referenceFlags struct {
	cfg, tenant, by, kind, system string
	from, to, format              string
	lg                            logFlags
	sf                            storeFlags
	ret                           retentionFlag
}

func (r *referenceFlags) register(fs *flag.FlagSet, withSubcommands bool) {
	fs.StringVar(&r.cfg, "config", "", "YAML config file")
	r.lg.register(fs)
	r.sf.register(fs)
	r.ret.register(fs)
	fs.StringVar(&r.tenant, "tenant", "", "tenant (practice) the data belongs to")
	fs.StringVar(&r.by, "imported-by", os.Getenv("USER"), "who imports it, recorded with every row")
	if !withSubcommands {
		return
	}
	fs.StringVar(&r.kind, "kind", "", "import: the feed (roster, accounts, patients, practitioners, practitioner-roles, appointments, encounters)")
	fs.StringVar(&r.system, "system", "", "import --kind accounts: the system (ehr, m365, vpn, google, other) of a file without a system column")
	fs.StringVar(&r.from, "from", "", "unlinked: start of the window (RFC 3339 or YYYY-MM-DD; default: 30 days before --to)")
	fs.StringVar(&r.to, "to", "", "unlinked: end of the window (RFC 3339 or YYYY-MM-DD; default: now)")
	fs.StringVar(&r.format, "format", "text", "unlinked, resolve: output as text or json (one object per line)")
}

func setupReference(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var rf referenceFlags
	rf.register(fs, true)
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return errors.New("name a subcommand: phiwatch reference import|unlinked|relink|resolve (phiwatch reference --help)")
		}
		sub := args[0]
		// The flag package stops at the subcommand; its flags follow it.
		// Parsing them now keeps the precedence config.Parse set up: what
		// the command line gives beats the environment and the file.
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		args = fs.Args()
		log, err := rf.lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if rf.tenant == "" {
			return fmt.Errorf("reference %s: --tenant is required", sub)
		}
		if rf.format != "text" && rf.format != "json" {
			return fmt.Errorf("--format %q: want text or json", rf.format)
		}
		switch sub {
		case "import":
			if rf.kind == "" || len(args) != 1 {
				return errors.New("usage: phiwatch reference import --tenant TENANT --kind KIND FILE (kinds: roster, accounts, patients, practitioners, practitioner-roles, appointments, encounters)")
			}
			kind, err := reference.ParseKind(rf.kind)
			if err != nil {
				return err
			}
			return runReferenceImport(ctx, e, &rf, kind, args[0], log)
		case "unlinked":
			if len(args) != 0 {
				return fmt.Errorf("reference unlinked takes no arguments, got %q", strings.Join(args, " "))
			}
			return runUnlinked(ctx, e, &rf, log)
		case "relink":
			if len(args) != 0 {
				return fmt.Errorf("reference relink takes no arguments, got %q", strings.Join(args, " "))
			}
			return runRelink(ctx, e, &rf, log)
		case "resolve":
			if len(args) == 0 {
				return errors.New("usage: phiwatch reference resolve --tenant TENANT ACTOR_ID...")
			}
			return runResolve(ctx, e, &rf, args, log)
		default:
			return fmt.Errorf("unknown subcommand %q: want import, unlinked, relink or resolve", sub)
		}
	}
}

// openMigrated opens the store and brings its schema up to date.
func (r *referenceFlags) openMigrated(ctx context.Context, log *slog.Logger) (store.Store, error) {
	s, err := r.sf.open(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(ctx, s, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// runReferenceImport is `phiwatch reference import` and `phiwatch roster`.
// It exits 1 when records were rejected (the readable ones are stored) or
// the identity links could not be rebuilt.
func runReferenceImport(ctx context.Context, e *env, rf *referenceFlags, kind reference.Kind, file string, log *slog.Logger) error {
	keep, err := rf.ret.duration()
	if err != nil {
		return err
	}
	var in io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	s, err := rf.openMigrated(ctx, log)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := reference.Import(ctx, s, in, reference.Options{Tenant: rf.tenant, Kind: kind, Source: file,
		ImportedBy: rf.by, Retention: keep, System: rf.system})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Fprintln(e.stdout, res.Summary(rf.tenant))
	for _, n := range res.Notes {
		fmt.Fprintf(e.stdout, "note: %s\n", n)
	}
	failed := false
	if res.LinksErr != nil {
		fmt.Fprintf(e.stderr, "phiwatch reference: %v\n", res.LinksErr)
		failed = true
	} else {
		printLinks(e.stdout, res.Links)
	}
	if n := len(res.Rejected); n > 0 {
		fmt.Fprintf(e.stderr, "%s: %d records not imported (the others are stored):\n", file, n)
		for i, r := range res.Rejected {
			if i == maxListedRejects {
				fmt.Fprintf(e.stderr, "  … and %d more\n", n-maxListedRejects)
				break
			}
			fmt.Fprintf(e.stderr, "  %s\n", r.Error())
		}
		failed = true
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func printLinks(w io.Writer, sum identity.BuildSummary) {
	fmt.Fprintln(w, sum.String())
	for _, l := range sum.Ambiguous {
		fmt.Fprintf(w, "note: %s is ambiguous: %s\n", l.Actor, l.Evidence)
	}
	for _, p := range sum.Problems {
		fmt.Fprintf(w, "note: %s\n", p)
	}
}

func runRelink(ctx context.Context, e *env, rf *referenceFlags, log *slog.Logger) error {
	keep, err := rf.ret.duration()
	if err != nil {
		return err
	}
	s, err := rf.openMigrated(ctx, log)
	if err != nil {
		return err
	}
	defer s.Close()
	sum, err := identity.Rebuild(ctx, s, rf.tenant, time.Now(), keep)
	if err != nil {
		return err
	}
	printLinks(e.stdout, sum)
	return nil
}

func runResolve(ctx context.Context, e *env, rf *referenceFlags, actors []string, log *slog.Logger) error {
	s, err := rf.openMigrated(ctx, log)
	if err != nil {
		return err
	}
	defer s.Close()
	x, err := identity.NewResolver(s).Load(ctx, rf.tenant)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	for _, a := range actors {
		l := x.Resolve(a)
		switch {
		case rf.format == "json":
			if err := enc.Encode(l); err != nil {
				return err
			}
		case l.Linked():
			fmt.Fprintf(e.stdout, "%s → %s (%s, confidence %.2f): %s\n", a, l.UserID, l.Method, l.Confidence, l.Evidence)
		default:
			fmt.Fprintf(e.stdout, "%s → %s: %s\n", a, l.Method, l.Evidence)
		}
	}
	return nil
}

func runUnlinked(ctx context.Context, e *env, rf *referenceFlags, log *slog.Logger) error {
	from, to, err := rf.window(time.Now())
	if err != nil {
		return err
	}
	s, err := rf.openMigrated(ctx, log)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := identity.NewResolver(s).Unlinked(ctx, rf.tenant, from, to)
	if err != nil {
		return err
	}
	if rf.format == "json" {
		enc := json.NewEncoder(e.stdout)
		for _, a := range rep.Unlinked {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "%s, %s to %s: %d actors seen, %d linked, %d not linked\n", rf.tenant,
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), rep.Actors, rep.Linked, len(rep.Unlinked))
	if rep.NoActor > 0 {
		fmt.Fprintf(e.stdout, "%d events carry no actor id at all\n", rep.NoActor)
	}
	if len(rep.Unlinked) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTOR\tSTATUS\tEVENTS\tEHR\tEMAIL\tVPN\tFIRST SEEN\tLAST SEEN\tWHY")
	for _, a := range rep.Unlinked {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", a.Actor, a.Method, a.Events,
			a.BySource["ehr"], a.BySource["email"], a.BySource["vpn"],
			a.FirstSeen.UTC().Format("2006-01-02 15:04Z"), a.LastSeen.UTC().Format("2006-01-02 15:04Z"), a.Evidence)
	}
	return tw.Flush()
}

// window reads --from and --to: RFC 3339 or a date (midnight UTC).
func (r *referenceFlags) window(now time.Time) (from, to time.Time, err error) {
	parse := func(flag, v string) (time.Time, error) {
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2026-10-01T00:00:00Z) or a date (2026-10-01)", flag, v)
	}
	to = now
	if r.to != "" {
		if to, err = parse("to", r.to); err != nil {
			return
		}
	}
	from = to.AddDate(0, 0, -30)
	if r.from != "" {
		if from, err = parse("from", r.from); err != nil {
			return
		}
	}
	if !from.Before(to) {
		err = errors.New("--from must be before --to")
	}
	return
}
