package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/phiwatch/phiwatch/internal/store"
)

func setupMigrate(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg  string
		lf   logFlags
		sf   storeFlags
		list bool
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lf.register(fs)
	sf.register(fs)
	fs.BoolVar(&list, "list", false, "list the migrations this binary carries and exit")
	return func(ctx context.Context, args []string) error {
		if list {
			ms, err := store.Migrations()
			if err != nil {
				return err
			}
			for _, m := range ms {
				fmt.Fprintf(e.stdout, "%s\t%s\n", m.Name, m.Checksum)
			}
			return nil
		}
		log, err := lf.logger(e.stderr)
		if err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		res, err := store.Migrate(ctx, s, log)
		if err != nil {
			return err
		}
		if len(res.Applied) == 0 {
			fmt.Fprintf(e.stdout, "schema of %s is up to date (%d migrations already applied)\n", s.Database(), res.Already)
		} else {
			fmt.Fprintf(e.stdout, "applied %d migrations to %s: %v (%d already applied)\n", len(res.Applied), s.Database(), res.Applied, res.Already)
		}
		return nil
	}
}
