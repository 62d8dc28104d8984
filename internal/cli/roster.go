package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/store"
)

func setupRoster(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, tenant, by string
		lg              logFlags
		sf              storeFlags
		ret             retentionFlag
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	ret.register(fs)
	fs.StringVar(&tenant, "tenant", "", "tenant (practice) the roster belongs to")
	fs.StringVar(&by, "imported-by", os.Getenv("USER"), "who imports it, recorded with every row")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if tenant == "" || len(args) != 1 {
			return fmt.Errorf("usage: phiwatch roster --tenant TENANT roster.csv (columns: docs/roster.md)")
		}
		keep, err := ret.duration()
		if err != nil {
			return err
		}
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		people, err := reference.ParseRoster(f, tenant)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		rows, err := reference.RosterRows(tenant, people, by, args[0], time.Now(), keep)
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
		if err := s.InsertWorkforce(ctx, rows); err != nil {
			return err
		}
		terminated := 0
		for _, p := range people {
			if p.TerminationDate != nil {
				terminated++
			}
		}
		fmt.Fprintf(e.stdout, "imported %d people (%d terminated) into the roster of %s\n", len(people), terminated, tenant)
		return nil
	}
}
