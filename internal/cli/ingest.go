package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	_ "time/tzdata" // --syslog-location works in minimal containers without /usr/share/zoneinfo

	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/ingest/syslog"
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
		sl     syslogFlags
		listen string
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lf.register(fs)
	kf.register(fs)
	sf.register(fs)
	sl.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9465", "address for /metrics, /healthz and /readyz (empty: off)")
	return func(ctx context.Context, args []string) error {
		log, err := lf.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) == 0 && !sl.enabled() {
			return fmt.Errorf("name the files to ingest (or - for standard input), or receive syslog with --syslog-udp or --syslog-tcp")
		}
		if sl.enabled() && sf.tenant == "" {
			return fmt.Errorf("--tenant is required with --syslog-udp or --syslog-tcp: syslog messages do not say which practice they belong to")
		}
		loc, err := sl.zone()
		if err != nil {
			return err
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
		if ls, ok := pl.Parser.(parsers.LocationSetter); ok {
			pl.Parser = ls.WithLocation(loc)
		} else if loc != time.UTC {
			log.Warn("--syslog-location has no effect on this format: its records carry their own time zone", "format", sf.format)
		}
		// Bind before reading any file, so a bad or busy address fails at
		// once; until serving starts, the kernel holds what arrives.
		pc, ln, err := sl.listen(ctx)
		if err != nil {
			return err
		}
		if pc != nil {
			defer pc.Close()
		}
		if ln != nil {
			defer ln.Close()
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
		if sl.enabled() {
			if err := receiveSyslog(ctx, pl, pc, ln, m, log); err != nil {
				return err
			}
		}
		st := pl.Stats()
		fmt.Fprintf(e.stdout, "ingested %d records: %d events, %d dead letters\n", st.Records, st.Events, st.DeadLetters)
		return nil
	}
}

// syslogFlags turn on receiving syslog.
type syslogFlags struct {
	udp, tcp, location string
}

func (s *syslogFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.udp, "syslog-udp", "", "receive syslog over UDP on this address, e.g. 0.0.0.0:514 (empty: off)")
	fs.StringVar(&s.tcp, "syslog-tcp", "", "receive syslog over TCP on this address, octet-counted or newline-framed, e.g. 0.0.0.0:1468 (empty: off)")
	fs.StringVar(&s.location, "syslog-location", "UTC", "time zone of timestamps that carry none (RFC 3164 syslog, Cisco ASA), received or read from files, e.g. America/Chicago")
}

func (s *syslogFlags) enabled() bool { return s.udp != "" || s.tcp != "" }

func (s *syslogFlags) zone() (*time.Location, error) {
	loc, err := time.LoadLocation(s.location)
	if err != nil {
		return nil, fmt.Errorf("--syslog-location %q: want an IANA zone such as America/Chicago, or UTC: %w", s.location, err)
	}
	return loc, nil
}

// listen binds the sockets asked for; either may be nil.
func (s *syslogFlags) listen(ctx context.Context) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	var pc net.PacketConn
	if s.udp != "" {
		var err error
		if pc, err = lc.ListenPacket(ctx, "udp", s.udp); err != nil {
			return nil, nil, fmt.Errorf("--syslog-udp %s: %w", s.udp, err)
		}
	}
	if s.tcp != "" {
		ln, err := lc.Listen(ctx, "tcp", s.tcp)
		if err != nil {
			if pc != nil {
				pc.Close()
			}
			return nil, nil, fmt.Errorf("--syslog-tcp %s: %w", s.tcp, err)
		}
		return pc, ln, nil
	}
	return pc, nil, nil
}

const (
	// syslogFlushEvery bounds how long a received message waits for its
	// batch to fill: the Pipeline publishes by count, and a quiet source
	// (a few VPN logins an hour) would otherwise never fill one.
	syslogFlushEvery = 200 * time.Millisecond
	// syslogShutdownGrace bounds publishing what was received once a stop
	// signal arrives, so a bus outage cannot keep the process from exiting.
	syslogShutdownGrace = 15 * time.Second
	syslogRetryMax      = 10 * time.Second
	syslogProgressEvery = time.Minute
)

// receiveSyslog serves the sockets until ctx ends and runs every message
// through pl, then publishes what is left and returns. It owns pl (the
// Pipeline is not safe for concurrent use): listeners hand messages over a
// bounded channel, so while a publish is slow or failing TCP senders are
// pushed back and UDP datagrams wait in the socket buffer, instead of
// phiwatch holding an unbounded backlog in memory.
func receiveSyslog(ctx context.Context, pl *ingest.Pipeline, pc net.PacketConn, ln net.Listener, m *metrics.Metrics, log *slog.Logger) error {
	guard := &truncationGuard{Parser: pl.Parser}
	pl.Parser = guard
	// Pipeline work outlives the stop signal by the grace period, so what
	// was received is still published.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(syslogShutdownGrace, stopWork) })
	defer stopGrace()

	msgs := make(chan syslog.Message, 1024)
	lis := syslog.NewListener(syslog.Config{Metrics: m, Log: log}, syslog.HandlerFunc(func(ctx context.Context, msg syslog.Message) error {
		select {
		case msgs <- msg:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	var wg sync.WaitGroup
	failed := make(chan error, 2)
	serve := func(transport string, addr net.Addr, run func(context.Context) error) {
		log.Info("syslog listening", "transport", transport, "addr", addr.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(serveCtx); err != nil {
				failed <- err
				stopServing() // one transport down stops the other: exit and be restarted whole
			}
		}()
	}
	if pc != nil {
		serve("udp", pc.LocalAddr(), func(ctx context.Context) error { return lis.ServeUDP(ctx, pc) })
	}
	if ln != nil {
		serve("tcp", ln.Addr(), func(ctx context.Context) error { return lis.ServeTCP(ctx, ln) })
	}
	go func() {
		wg.Wait()
		close(msgs) // no sender is left
	}()

	feed := &syslogFeed{pl: pl, guard: guard, log: log}
	tick := time.NewTicker(syslogFlushEvery)
	defer tick.Stop()
	lastProgress, progressAt := pl.Stats(), time.Now()
	for open := true; open; {
		var err error
		select {
		case msg, ok := <-msgs:
			if !ok {
				open = false
				break
			}
			err = feed.handle(work, msg)
		case <-tick.C:
			err = feed.flush(work)
			if st := pl.Stats(); st != lastProgress && time.Since(progressAt) >= syslogProgressEvery {
				log.Info("syslog progress", "records", st.Records, "events", st.Events, "dead_letters", st.DeadLetters)
				lastProgress, progressAt = st, time.Now()
			}
		}
		if err != nil {
			return err
		}
	}
	if err := feed.flush(work); err != nil {
		return err
	}
	select {
	case err := <-failed:
		return err
	default:
	}
	log.Info("syslog stopped; everything received was published")
	return nil
}

// syslogFeed moves received messages into the Pipeline.
type syslogFeed struct {
	pl    *ingest.Pipeline
	guard *truncationGuard
	log   *slog.Logger
}

func (f *syslogFeed) handle(ctx context.Context, msg syslog.Message) error {
	rec := parsers.Record{Data: msg.Data, Origin: msg.Origin(), ReceivedAt: msg.ReceivedAt}
	if msg.Peer != nil {
		rec.Peer = msg.Peer.String()
	}
	if msg.Truncated {
		f.guard.cut = msg.TruncatedReason
		if f.guard.cut == "" {
			f.guard.cut = "syslog message truncated"
		}
	}
	err := f.pl.Handle(ctx, rec)
	f.guard.cut = ""
	if err != nil {
		// The record is queued; only publishing the batch failed.
		return f.retry(ctx, err)
	}
	return nil
}

func (f *syslogFeed) flush(ctx context.Context) error {
	if err := f.pl.Flush(ctx); err != nil {
		return f.retry(ctx, err)
	}
	return nil
}

// retry publishes the queued batch until the bus takes it or ctx ends (the
// shutdown grace ran out). Nothing new is taken meanwhile: that is the
// push-back on senders.
func (f *syslogFeed) retry(ctx context.Context, err error) error {
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, syslogRetryMax) {
		f.log.Warn("publishing received syslog to the bus failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			// Logged as well as returned: the error may wrap
			// context.Canceled, which Main reports only as exit status 130.
			f.log.Error("gave up publishing received syslog at shutdown; the unpublished batch is lost", "err", err, "grace", syslogShutdownGrace)
			return fmt.Errorf("publish received syslog messages: gave up at shutdown: %w", err)
		}
		if err = f.pl.Flush(ctx); err == nil {
			f.log.Info("publishing received syslog recovered")
			return nil
		}
	}
}

// truncationGuard is the syslog Pipeline's parser. A message the listener
// had to cut short (over the size limit, or the connection ended mid-frame)
// is rejected with the listener's reason, so the Pipeline dead-letters it,
// kept truncated, rather than parsing half a record into a wrong event. cut
// is set by the feed's goroutine just before Handle and cleared after.
type truncationGuard struct {
	parsers.Parser
	cut string
}

// Parse implements parsers.Parser.
func (g *truncationGuard) Parse(rec parsers.Record) ([]event.Event, error) {
	if g.cut != "" {
		return nil, errors.New(g.cut)
	}
	return g.Parser.Parse(rec)
}
