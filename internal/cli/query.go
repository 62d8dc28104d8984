package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
)

// query is the operator's window into the store, above all the embedded
// one, which no other process can open while phiwatch runs on it.
func setupQuery(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg string
		sf  storeFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	sf.register(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("give one SQL query as the argument, e.g. phiwatch query 'SELECT count() FROM phiwatch.events'")
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		sql := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(args[0]), ";"))
		var rows []map[string]any
		if err := s.Select(ctx, &rows, sql, nil); err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
}
