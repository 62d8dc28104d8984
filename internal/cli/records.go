package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

const recordsUsage = `breach-clock --discovered YYYY-MM-DD --affected N [--states TX=501,OK=12] [--role covered_entity|business_associate] [--ba-discovered YYYY-MM-DD --ba-agent]
       | binder --tenant T [--from YYYY-MM-DD] [--to YYYY-MM-DD] --out FILE.zip
       | seed-demo --tenant T [--day YYYY-MM-DD]
       | refresh-retention --tenant T

  breach-clock  print the notifications a breach requires and their
                deadlines (45 CFR 164.404-164.410; docs/records.md)
  binder        write a tenant's evidence binder (ZIP of CSVs, Markdown
                and a PDF summary) for a period, default this year to today
  seed-demo     fill a tenant with a small practice's compliance records
  refresh-retention
                keep records still in effect for 7 more years (run monthly)`

// setupRecords is `phiwatch records`: the compliance records' tools.
func setupRecords(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		lg                                     logFlags
		sf                                     storeFlags
		discovered, states, role, baDiscovered string
		tenant, from, to, out, day             string
		affected                               int
		baAgent                                bool
	)
	lg.register(fs)
	sf.register(fs)
	fs.StringVar(&discovered, "discovered", "", "breach-clock: day the breach was discovered, YYYY-MM-DD")
	fs.IntVar(&affected, "affected", 0, "breach-clock: individuals affected")
	fs.StringVar(&states, "states", "", "breach-clock: residents affected by state, e.g. TX=501,OK=12")
	fs.StringVar(&role, "role", "covered_entity", "breach-clock: covered_entity, or business_associate (notifies the covered entity)")
	fs.StringVar(&baDiscovered, "ba-discovered", "", "breach-clock: day a business associate discovered the breach it reported")
	fs.BoolVar(&baAgent, "ba-agent", false, "breach-clock: the business associate is the covered entity's agent (its discovery starts the clock)")
	fs.StringVar(&tenant, "tenant", "", "binder, seed-demo, refresh-retention: tenant (practice) id")
	fs.StringVar(&from, "from", "", "binder: first day of the period (default 1 January of --to's year)")
	fs.StringVar(&to, "to", "", "binder: last day of the period (default today, UTC)")
	fs.StringVar(&out, "out", "", "binder: ZIP file to write")
	fs.StringVar(&day, "day", "", "seed-demo: the day the records are seeded as of (default today, UTC)")
	return func(ctx context.Context, args []string) error {
		sub, err := parseSub(fs, args, "records", "breach-clock", "binder", "seed-demo", "refresh-retention")
		if err != nil {
			return err
		}
		switch sub {
		case "breach-clock":
			return printBreachClock(e, discovered, affected, states, role, baDiscovered, baAgent)
		case "binder", "seed-demo", "refresh-retention":
		}
		if tenant == "" {
			return fmt.Errorf("records %s: --tenant is required", sub)
		}
		today := records.DateOf(time.Now())
		dayOr := func(s string, def records.Date, name string) (records.Date, error) {
			if s == "" {
				return def, nil
			}
			d, err := records.ParseDate(s)
			if err != nil {
				return d, fmt.Errorf("--%s: %w", name, err)
			}
			return d, nil
		}
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		db, err := store.ForTenant(s, tenant)
		if err != nil {
			return err
		}
		if sub == "refresh-retention" {
			n, err := records.RefreshRetention(ctx, db, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "retention of %d current records of tenant %s extended\n", n, tenant)
			return nil
		}
		if sub == "seed-demo" {
			d, err := dayOr(day, today, "day")
			if err != nil {
				return err
			}
			if err := records.SeedDemo(ctx, db, d); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "compliance records of tenant %s seeded as of %s\n", tenant, d)
			return nil
		}
		if out == "" {
			return errors.New("records binder: --out FILE.zip is required")
		}
		end, err := dayOr(to, today, "to")
		if err != nil {
			return err
		}
		start, err := dayOr(from, records.NewDate(end.Year(), time.January, 1), "from")
		if err != nil {
			return err
		}
		f, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("records binder: %w", err)
		}
		files, err := records.WriteBinder(ctx, db, f, records.BinderPeriod{From: start, To: end, Generated: time.Now(),
			Sources: []records.EvidenceSource{records.ReviewEvidence{Service: review.NewService(review.Config{}, nil, time.Now)}, records.RecertEvidence{}}})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
			return fmt.Errorf("records binder: %w", err)
		}
		fmt.Fprintf(e.stdout, "evidence binder of %s for %s to %s: %s (%d files)\n", tenant, start, end, out, len(files))
		return nil
	}
}

func printBreachClock(e *env, discovered string, affected int, states, role, baDiscovered string, baAgent bool) error {
	var in records.ClockInput
	var err error
	if in.Discovered, err = records.ParseDate(discovered); err != nil {
		return fmt.Errorf("--discovered: %w", err)
	}
	in.Affected, in.Role, in.BAIsAgent = affected, records.Role(role), baAgent
	if in.ByState, err = records.ParseStates(states); err != nil {
		return err
	}
	if baDiscovered != "" {
		if in.BADiscovered, err = records.ParseDate(baDiscovered); err != nil {
			return fmt.Errorf("--ba-discovered: %w", err)
		}
	}
	dls, err := records.BreachClock(in)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "clock starts %s; %d individuals affected\n\n", in.ClockStart(), in.Affected)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTICE\tSTATE\tDUE\tRULE\tWHAT")
	for _, d := range dls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Notice, orDashCLI(d.State), d.Due, d.Rule, d.What)
	}
	return tw.Flush()
}

func orDashCLI(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
