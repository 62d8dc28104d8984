package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"github.com/phiwatch/phiwatch/internal/chdb"
)

func setupVersion(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var cfg, lib string
	fs.StringVar(&cfg, "config", "", "YAML config file")
	fs.StringVar(&lib, "chdb-lib", "", "path to libchdb.so to check")
	return func(context.Context, []string) error {
		fmt.Fprintf(e.stdout, "phiwatch %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		if err := chdb.Available(lib); err != nil {
			fmt.Fprintf(e.stdout, "embedded ClickHouse engine: not available: %v\n", err)
		} else {
			fmt.Fprintf(e.stdout, "embedded ClickHouse engine: libchdb %s found\n", chdb.Version)
		}
		return nil
	}
}
