package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/phiwatch/phiwatch/internal/store"
)

func setupMigrate(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg  string
		lf   logFlags
		sf   storeFlags
		list bool
		// Cluster DDL (docs/deploy.md): replicated local tables and
		// Distributed tables ON CLUSTER.
		cluster  string
		printDDL bool
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lf.register(fs)
	sf.register(fs)
	fs.BoolVar(&list, "list", false, "list the migrations this binary carries and exit")
	fs.StringVar(&cluster, "cluster", "", "ClickHouse cluster (remote_servers name or {cluster} macro): create Replicated*MergeTree <table>_local tables and Distributed <table> tables ON CLUSTER; empty: one server")
	fs.BoolVar(&printDDL, "print", false, "print the DDL (for --cluster, or for one server) and exit without connecting")
	return func(ctx context.Context, args []string) error {
		if printDDL {
			return printMigrations(e, migrateDatabase(sf), cluster)
		}
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
		res, err := store.MigrateCluster(ctx, s, cluster, log)
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

// printMigrations writes the DDL migrate would run on a fresh database.
func printMigrations(e *env, db, cluster string) error {
	c, err := store.NewClusterDDL(db, cluster)
	if err != nil {
		return err
	}
	schema, err := c.TranslateAll()
	if err != nil {
		return err
	}
	return schema.WriteSQL(e.stdout)
}

// migrateDatabase is the database the store flags name: a clickhouse://
// DSN's path, else --database.
func migrateDatabase(sf storeFlags) string {
	if u, err := url.Parse(sf.dsn); err == nil && u.Scheme == "clickhouse" {
		if p := strings.Trim(u.Path, "/"); p != "" {
			return p
		}
	}
	return sf.database
}
