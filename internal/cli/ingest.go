package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/opsserver"
)

// sourceFlags describe the records being ingested.
type sourceFlags struct {
	format, tenant, sourceName string
	batch                      int
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.format, "format", "", "input format (phiwatch parse --list shows them)")
	fs.StringVar(&s.tenant, "tenant", "", "tenant (practice) the input belongs to")
	fs.StringVar(&s.sourceName, "source-name", "", "name of this source in the tenant's inventory, e.g. main-asa")
	fs.IntVar(&s.batch, "publish-batch", 1000, "messages per publish to the bus")
}

func (s *sourceFlags) pipeline(p bus.Producer, k *kafkaFlags, m *metrics.Metrics, log *slog.Logger) (*ingest.Pipeline, error) {
	if s.format == "" {
		return nil, fmt.Errorf("--format is required (phiwatch parse --list shows the formats)")
	}
	parser, err := parsers.Lookup(s.format)
	if err != nil {
		return nil, err
	}
	if s.tenant != "" && !event.ValidTenant(s.tenant) {
		return nil, fmt.Errorf("--tenant %q: use 1-64 characters of a-z, 0-9, '-' or '_'", s.tenant)
	}
	return &ingest.Pipeline{
		Parser: parser, Producer: p, EventsTopic: k.eventsTopic, DeadLetterTopic: k.deadLetterTopic,
		Tenant: s.tenant, SourceName: s.sourceName, BatchSize: s.batch, Metrics: m, Log: log,
	}, nil
}

// ingestFiles reads each named file (or - for stdin) through the pipeline.
func ingestFiles(ctx context.Context, pl *ingest.Pipeline, files []string, stdin io.Reader, log *slog.Logger) error {
	for _, name := range files {
		start := time.Now()
		before := pl.Stats()
		var err error
		if name == "-" {
			err = pl.Read(ctx, stdin, "-")
		} else {
			var f *os.File
			if f, err = os.Open(name); err != nil {
				return err
			}
			err = pl.Read(ctx, f, name)
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("ingest %s: %w", name, err)
		}
		st := pl.Stats()
		log.Info("ingested", "input", name, "records", st.Records-before.Records, "events", st.Events-before.Events,
			"dead_letters", st.DeadLetters-before.DeadLetters, "duration", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func setupIngest(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg    string
		lf     logFlags
		kf     kafkaFlags
		sf     sourceFlags
		listen string
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lf.register(fs)
	kf.register(fs)
	sf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9465", "address for /metrics, /healthz and /readyz (empty: off)")
	return func(ctx context.Context, args []string) error {
		log, err := lf.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			return fmt.Errorf("name the files to ingest (or - for standard input)")
		}
		m := metrics.New()
		if err := kf.ensureTopics(ctx); err != nil {
			return err
		}
		prod := bus.NewKafkaProducer(kf.config())
		defer prod.Close()
		pl, err := sf.pipeline(prod, &kf, m, log)
		if err != nil {
			return err
		}
		ops := opsserver.New(listen, m, map[string]opsserver.Check{
			"kafka": func(ctx context.Context) error { return bus.Ping(ctx, kf.config().Brokers) },
		}, log)
		if err := ops.Start(); err != nil {
			return err
		}
		defer ops.Shutdown(context.Background())
		if err := ingestFiles(ctx, pl, args, e.stdin, log); err != nil {
			return err
		}
		st := pl.Stats()
		fmt.Fprintf(e.stdout, "ingested %d records: %d events, %d dead letters\n", st.Records, st.Events, st.DeadLetters)
		return nil
	}
}
