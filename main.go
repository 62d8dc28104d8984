// Command phiwatch is the HIPAA audit-log analytics and access-review
// pipeline: one binary, its roles chosen by subcommand.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/phiwatch/phiwatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
