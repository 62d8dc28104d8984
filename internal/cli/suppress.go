package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/internal/store"
)

const suppressUsage = `add --tenant T [--rule R] [--actor A] [--patient P] --reason TEXT --expires YYYY-MM-DD | list --tenant T | revoke --tenant T --id ID --reason TEXT

  add     record a suppression: alerts it matches are still stored, but
          flagged and kept out of cases (docs/cases.md); it lasts until the
          end of --expires (UTC), at most a year
  list    the tenant's suppressions, current version of each
  revoke  end a suppression early (a new version; the old one stays)`

// setupSuppress is `phiwatch suppress`: the privacy officer's record of
// which alerts are expected, and why.
func setupSuppress(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		lg                               logFlags
		sf                               storeFlags
		ret                              retentionFlag
		tenant, rule, actor, patient, id string
		reason, expires, by, format      string
	)
	lg.register(fs)
	sf.register(fs)
	ret.register(fs)
	fs.StringVar(&tenant, "tenant", "", "tenant (practice) id")
	fs.StringVar(&rule, "rule", "", "add: rule to suppress (empty: every rule)")
	fs.StringVar(&actor, "actor", "", "add: actor id to suppress (empty: any actor)")
	fs.StringVar(&patient, "patient", "", "add: patient id to suppress (empty: any patient)")
	fs.StringVar(&reason, "reason", "", "add, revoke: why (required; it is the record an auditor reads)")
	fs.StringVar(&expires, "expires", "", "add: last day the suppression applies, YYYY-MM-DD (required, at most a year ahead)")
	fs.StringVar(&id, "id", "", "revoke: suppression id (from list)")
	fs.StringVar(&by, "by", "", "who decides (default: $USER)")
	fs.StringVar(&format, "format", "text", "list output: text or json")
	return func(ctx context.Context, args []string) error {
		sub, err := parseSub(fs, args, "suppress", "add", "list", "revoke")
		if err != nil {
			return err
		}
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if tenant == "" {
			return fmt.Errorf("suppress %s: --tenant is required", sub)
		}
		if by == "" {
			by = e.getenv("USER")
		}
		if by == "" {
			by = "cli"
		}
		keep, err := ret.duration()
		if err != nil {
			return err
		}
		now := time.Now()
		var row store.SuppressionRow
		switch sub {
		case "add":
			if expires == "" {
				return errors.New("suppress add: --expires YYYY-MM-DD is required: every suppression ends")
			}
			day, err := time.Parse(time.DateOnly, expires)
			if err != nil {
				return fmt.Errorf("--expires %q: want a date, e.g. 2027-01-31", expires)
			}
			row, err = analyze.NewSuppression(analyze.SuppressionRequest{Tenant: tenant, Rule: rule, ActorID: actor, PatientID: patient,
				Reason: reason, CreatedBy: by, ExpiresAt: day.Add(24 * time.Hour)}, now, keep)
			if err != nil {
				return fmt.Errorf("suppress add: %w", err)
			}
		case "list":
		case "revoke":
			if id == "" || strings.TrimSpace(reason) == "" {
				return errors.New("usage: phiwatch suppress revoke --tenant T --id ID --reason TEXT")
			}
		}
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: want text or json", format)
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		switch sub {
		case "add":
			if err := s.InsertSuppressions(ctx, []store.SuppressionRow{row}); err != nil {
				return fmt.Errorf("store the suppression: %w", err)
			}
			fmt.Fprintf(e.stdout, "suppression %s added for tenant %s, until %s; alerts it matches are flagged from the next detector run\n",
				row.SuppressionID, tenant, row.ExpiresAt.Format(time.RFC3339))
			return nil
		case "revoke":
			list, err := analyze.ListSuppressions(ctx, s, tenant)
			if err != nil {
				return err
			}
			for _, sp := range list {
				if sp.SuppressionID == id {
					if sp.Revoked {
						return fmt.Errorf("suppression %s was already revoked by %s", id, sp.RevokedBy)
					}
					if err := s.InsertSuppressions(ctx, []store.SuppressionRow{analyze.Revoke(sp, by, strings.TrimSpace(reason), now)}); err != nil {
						return fmt.Errorf("store the revocation: %w", err)
					}
					fmt.Fprintf(e.stdout, "suppression %s revoked\n", id)
					return nil
				}
			}
			return fmt.Errorf("tenant %s has no suppression %s (phiwatch suppress list --tenant %s)", tenant, id, tenant)
		}
		list, err := analyze.ListSuppressions(ctx, s, tenant)
		if err != nil {
			return err
		}
		if format == "json" {
			enc := json.NewEncoder(e.stdout)
			for _, sp := range list {
				if err := enc.Encode(sp); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tRULE\tACTOR\tPATIENT\tEXPIRES\tBY\tREASON")
		for _, sp := range list {
			state := "active"
			switch {
			case sp.Revoked:
				state = "revoked"
			case !sp.ExpiresAt.After(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sp.SuppressionID, state, orAny(sp.Rule), orAny(sp.ActorID), orAny(sp.PatientID),
				sp.ExpiresAt.Format(time.DateOnly), sp.CreatedBy, sp.Reason)
		}
		return tw.Flush()
	}
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
