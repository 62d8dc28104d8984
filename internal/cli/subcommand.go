package cli

import (
	"flag"
	"fmt"
	"strings"
)

// parseSub takes the subcommand of `phiwatch CMD SUB [flags]` and parses
// the flags that follow it (the flag package stops at the subcommand;
// parsing them now keeps the precedence config.Parse set up: the command
// line beats the environment and the file). -h answers flag.ErrHelp, which
// Main turns into exit 0.
func parseSub(fs *flag.FlagSet, args []string, cmd string, subs ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("name a subcommand: phiwatch %s %s (phiwatch %s --help)", cmd, strings.Join(subs, "|"), cmd)
	}
	sub := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s %s takes no arguments, got %q", cmd, sub, strings.Join(fs.Args(), " "))
	}
	for _, s := range subs {
		if s == sub {
			return sub, nil
		}
	}
	return "", fmt.Errorf("unknown subcommand %q: want %s", sub, strings.Join(subs, ", "))
}
