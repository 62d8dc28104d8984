package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
)

// FlagNames lists the flags of a command, e.g. for checking that deployment
// files (compose, Helm) set only PHIWATCH_<FLAG> variables the role reads.
func FlagNames(command string) ([]string, error) {
	cmd, ok := commands()[command]
	if !ok {
		return nil, fmt.Errorf("unknown command %q", command)
	}
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	// setup only declares flags and returns the runner, which is not run.
	cmd.setup(fs, &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names, nil
}
