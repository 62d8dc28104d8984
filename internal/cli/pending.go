package cli

import (
	"context"
	"flag"
	"fmt"
)

// The analyze, api and demo roles arrive with the end-to-end slice; until
// then they say so plainly instead of pretending to run.
func pendingRole(name string) func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	return func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var cfg string
		fs.StringVar(&cfg, "config", "", "YAML config file")
		return func(context.Context, []string) error {
			return fmt.Errorf("the %s role is not built yet (see the end-to-end issue)", name)
		}
	}
}

var setupDemo = pendingRole("demo")
