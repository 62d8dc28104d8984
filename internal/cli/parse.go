package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/metrics"
)

func setupParse(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, format, tenant string
		list                bool
		lf                  logFlags
		pf                  parserFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	fs.StringVar(&format, "format", "", "input format (see --list)")
	fs.StringVar(&tenant, "tenant", "", "tenant the records belong to, when they do not say")
	fs.BoolVar(&list, "list", false, "list the formats and exit")
	lf.register(fs)
	pf.register(fs, true)
	return func(ctx context.Context, args []string) error {
		if list {
			for _, p := range parsers.All() {
				kind := string(p.Kind())
				if kind == "" {
					kind = "any"
				}
				fmt.Fprintf(e.stdout, "%-20s %-6s %s\n", p.Name(), kind, p.Description())
			}
			return nil
		}
		if format == "" {
			return fmt.Errorf("--format is required (phiwatch parse --list shows the formats)")
		}
		p, err := parsers.Lookup(format)
		if err != nil {
			return err
		}
		if p, err = pf.configure(p); err != nil {
			return err
		}
		log, err := lf.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) > 1 {
			return fmt.Errorf("parse reads one file (or - for standard input), got %d", len(args))
		}
		name, in := "-", e.stdin
		if len(args) == 1 && args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			name, in = args[0], f
		}
		out := &printProducer{events: e.stdout, errs: e.stderr}
		pl := &ingest.Pipeline{
			Parser: p, Producer: out, EventsTopic: "events", DeadLetterTopic: "dead",
			Tenant: tenant, Metrics: metrics.New(), Log: log, BatchSize: 1,
		}
		if err := pl.Read(ctx, in, name); err != nil {
			return err
		}
		if st := pl.Stats(); st.DeadLetters > 0 {
			fmt.Fprintf(e.stderr, "%d of %d records failed\n", st.DeadLetters, st.Records)
			return exitError{1}
		}
		return nil
	}
}

// printProducer is the bus of `phiwatch parse`: events go to stdout as
// NDJSON, rejected records to stderr as "origin: stage: reason".
type printProducer struct {
	events, errs io.Writer
}

func (p *printProducer) Publish(_ context.Context, msgs ...bus.Message) error {
	for _, m := range msgs {
		if m.Topic == "events" {
			if _, err := fmt.Fprintf(p.events, "%s\n", m.Value); err != nil {
				return err
			}
			continue
		}
		var d deadletter.Record
		if err := json.Unmarshal(m.Value, &d); err != nil {
			return err
		}
		fmt.Fprintf(p.errs, "%s: %s error: %s\n", d.Origin, d.Stage, strings.ReplaceAll(d.Reason, "\n", "; "))
	}
	return nil
}

func (p *printProducer) Close() error { return nil }
