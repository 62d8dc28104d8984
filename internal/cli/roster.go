package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/phiwatch/phiwatch/ingest/reference"
)

// setupRoster is `phiwatch roster`, kept as the short form of
// `phiwatch reference import --kind roster`: the same import, the same
// identity-links rebuild, the same output.
func setupRoster(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var rf referenceFlags
	rf.register(fs, false)
	return func(ctx context.Context, args []string) error {
		log, err := rf.lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if rf.tenant == "" || len(args) != 1 {
			return fmt.Errorf("usage: phiwatch roster --tenant TENANT roster.csv (columns: docs/roster.md)")
		}
		return runReferenceImport(ctx, e, &rf, reference.KindRoster, args[0], log)
	}
}
