package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"github.com/phiwatch/phiwatch/ingest/pull"
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
		pf     pullFlags
		prf    parserFlags
		geo    geoFlags
		listen string
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lf.register(fs)
	kf.register(fs)
	sf.register(fs)
	sl.register(fs)
	pf.register(fs)
	prf.register(fs, false)
	geo.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9465", "address for /metrics, /healthz and /readyz (empty: off)")
	return func(ctx context.Context, args []string) error {
		log, err := lf.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) == 0 && !sl.enabled() && !pf.enabled() {
			return fmt.Errorf("name the files to ingest (or - for standard input), receive syslog with --syslog-udp, --syslog-tcp or --syslog-tls, or pull APIs with --sources")
		}
		if sl.enabled() && sf.tenant == "" {
			return fmt.Errorf("--tenant is required with --syslog-udp, --syslog-tcp or --syslog-tls: syslog messages do not say which practice they belong to")
		}
		tlsCfg, err := sl.tlsConfig()
		if err != nil {
			return err
		}
		enrich, err := geo.open(log)
		if err != nil {
			return err
		}
		if enrich != nil {
			defer enrich.Close()
		}
		loc, err := sl.zone()
		if err != nil {
			return err
		}
		// Check the sources file before touching Kafka, so a mistake in it
		// is reported at once and alone.
		sources, err := pf.load(e.getenv)
		if err != nil {
			return err
		}
		m := metrics.New()
		if err := kf.ensureTopics(ctx); err != nil {
			return err
		}
		prod := bus.NewKafkaProducer(kf.config())
		defer prod.Close()
		var pl *ingest.Pipeline
		if len(args) > 0 || sl.enabled() {
			if pl, err = sf.pipeline(prod, &kf, m, log); err != nil {
				return err
			}
			if pl.Parser, err = prf.configure(pl.Parser); err != nil {
				return err
			}
			if enrich != nil {
				pl.Enrich = enrich.Enrich
			}
			if ls, ok := pl.Parser.(parsers.LocationSetter); ok {
				pl.Parser = ls.WithLocation(loc)
			} else if loc != time.UTC {
				log.Warn("--syslog-location has no effect on this format: its records carry their own time zone", "format", sf.format)
			}
		}
		var enrichFn func(*event.Event)
		if enrich != nil {
			enrichFn = enrich.Enrich
		}
		pullers, err := pf.build(sources, prod, &kf, &sf, enrichFn, m, log, e.getenv)
		if err != nil {
			return err
		}
		// Bind before reading any file, so a bad or busy address fails at
		// once; until serving starts, the kernel holds what arrives.
		socks, err := sl.listen(ctx)
		if err != nil {
			return err
		}
		socks.tlsConfig = tlsCfg
		defer socks.close()
		ops := opsserver.New(listen, m, map[string]opsserver.Check{
			"kafka": func(ctx context.Context) error { return bus.Ping(ctx, kf.config().Brokers) },
		}, log)
		if err := ops.Start(); err != nil {
			return err
		}
		defer ops.Shutdown(context.Background())
		if len(args) > 0 {
			if err := ingestFiles(ctx, pl, args, e.stdin, log); err != nil {
				return err
			}
		}
		if err := runReceivers(ctx, pl, socks, sl.enabled(), pullers, m, log); err != nil {
			return err
		}
		var st ingest.Stats
		if pl != nil {
			st = pl.Stats()
		}
		for _, s := range pullers.sinks {
			st = addStats(st, s.Stats())
		}
		fmt.Fprintf(e.stdout, "ingested %d records: %d events, %d dead letters\n", st.Records, st.Events, st.DeadLetters)
		if enrich != nil {
			gs := enrich.Stats()
			log.Info("geoip", "looked_up", gs.Looked, "found", gs.Found, "skipped_private", gs.Skipped, "errors", gs.Errors)
		}
		return nil
	}
}

// runReceivers serves syslog (when on) and runs the pullers until ctx
// ends or syslog fails, which stops the pullers too: the process exits and
// is restarted whole.
func runReceivers(ctx context.Context, pl *ingest.Pipeline, socks syslogSockets, syslogOn bool, ps pullSet, m *metrics.Metrics, log *slog.Logger) error {
	if !syslogOn && len(ps.runners) == 0 {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, r := range ps.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx) // returns when ctx ends; failures are logged and retried inside
		}()
	}
	var err error
	if syslogOn {
		err = receiveSyslog(ctx, pl, socks, m, log)
		stop()
	}
	wg.Wait()
	return err
}

// pullFlags turn on pulling source APIs.
type pullFlags struct {
	sources, stateDir string
}

func (p *pullFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.sources, "sources", "", "YAML file of API sources to pull (FHIR AuditEvent REST and Bulk Data, Microsoft 365, Google Workspace; see docs/pullers.md)")
	fs.StringVar(&p.stateDir, "state-dir", "", "directory for the pullers' checkpoints (required with --sources; one ingest process per directory)")
}

func (p *pullFlags) enabled() bool { return p.sources != "" }

// load reads and checks the sources file; nil when pulling is off.
func (p *pullFlags) load(getenv func(string) string) (*pull.Config, error) {
	if !p.enabled() {
		return nil, nil
	}
	if p.stateDir == "" {
		return nil, fmt.Errorf("--state-dir is required with --sources: the pullers keep their checkpoints there, so a restart neither repeats nor skips records")
	}
	cfg, err := pull.LoadConfig(p.sources, getenv)
	if err != nil {
		return nil, fmt.Errorf("--sources: %w", err)
	}
	for _, sc := range cfg.Sources {
		if _, err := parsers.Lookup(pull.ParserFor(sc.Type)); err != nil {
			return nil, fmt.Errorf("--sources: source %s/%s of type %s needs the %s parser, which this build does not have", sc.Tenant, sc.Name, sc.Type, pull.ParserFor(sc.Type))
		}
	}
	if _, err := pull.NewFileStore(p.stateDir); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	return cfg, nil
}

// pullSet is the pullers of a run, each with its own Pipeline (a Pipeline
// is not safe for concurrent use; the producer is shared).
type pullSet struct {
	runners []*pull.Runner
	sinks   []*pullSink
}

// pullSink feeds one puller's records to its Pipeline. Discard drops what a
// failed pass left queued (a batch the bus refused): the puller fetches it
// again from its checkpoint, so publishing it as well would only add
// duplicates. Only the puller's goroutine uses it.
type pullSink struct {
	newPipeline func() *ingest.Pipeline
	pl          *ingest.Pipeline
	done        ingest.Stats // of the pipelines discarded
}

// Handle implements pull.Sink.
func (s *pullSink) Handle(ctx context.Context, rec parsers.Record) error {
	return s.pl.Handle(ctx, rec)
}

// Flush implements pull.Sink.
func (s *pullSink) Flush(ctx context.Context) error { return s.pl.Flush(ctx) }

// Discard implements pull.Discarder.
func (s *pullSink) Discard() {
	s.done = addStats(s.done, s.pl.Stats())
	s.pl = s.newPipeline()
}

// Stats counts what every pipeline of the sink did.
func (s *pullSink) Stats() ingest.Stats { return addStats(s.done, s.pl.Stats()) }

func addStats(a, b ingest.Stats) ingest.Stats {
	return ingest.Stats{Records: a.Records + b.Records, Events: a.Events + b.Events, DeadLetters: a.DeadLetters + b.DeadLetters}
}

func (p *pullFlags) build(cfg *pull.Config, prod bus.Producer, k *kafkaFlags, sf *sourceFlags, enrich func(*event.Event), m *metrics.Metrics, log *slog.Logger, getenv func(string) string) (pullSet, error) {
	var ps pullSet
	if cfg == nil {
		return ps, nil
	}
	store, err := pull.NewFileStore(p.stateDir)
	if err != nil {
		return ps, err
	}
	for _, sc := range cfg.Sources {
		parser, err := parsers.Lookup(pull.ParserFor(sc.Type))
		if err != nil {
			return ps, err
		}
		newPipeline := func() *ingest.Pipeline {
			return &ingest.Pipeline{Parser: parser, Producer: prod, EventsTopic: k.eventsTopic, DeadLetterTopic: k.deadLetterTopic,
				Tenant: sc.Tenant, SourceName: sc.Name, BatchSize: sf.batch, Metrics: m, Log: log, Enrich: enrich}
		}
		sink := &pullSink{newPipeline: newPipeline, pl: newPipeline()}
		r, err := pull.Build(sc, pull.BuildOptions{Deps: pull.Deps{Sink: sink, Checkpoints: store, Log: log},
			Metrics: m, Getenv: getenv, UserAgent: "phiwatch/" + Version})
		if err != nil {
			return ps, fmt.Errorf("--sources: %w", err)
		}
		ps.runners = append(ps.runners, r)
		ps.sinks = append(ps.sinks, sink)
	}
	log.Info("pulling sources", "file", cfg.File, "sources", len(ps.runners), "state_dir", p.stateDir)
	return ps, nil
}

// syslogFlags turn on receiving syslog.
type syslogFlags struct {
	udp, tcp, location          string
	tls, tlsCert, tlsKey, tlsCA string
}

func (s *syslogFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.udp, "syslog-udp", "", "receive syslog over UDP on this address, e.g. 0.0.0.0:514 (empty: off)")
	fs.StringVar(&s.tcp, "syslog-tcp", "", "receive syslog over TCP on this address, octet-counted or newline-framed, e.g. 0.0.0.0:1468 (empty: off)")
	fs.StringVar(&s.tls, "syslog-tls", "", "receive syslog over TLS (RFC 5425) on this address, e.g. 0.0.0.0:6514 (empty: off; needs --syslog-tls-cert and --syslog-tls-key)")
	fs.StringVar(&s.tlsCert, "syslog-tls-cert", "", "PEM certificate (chain) the syslog TLS listener presents")
	fs.StringVar(&s.tlsKey, "syslog-tls-key", "", "PEM private key of --syslog-tls-cert")
	fs.StringVar(&s.tlsCA, "syslog-tls-client-ca", "", "PEM CA bundle: when set, senders must present a certificate it signed (mutual TLS)")
	fs.StringVar(&s.location, "syslog-location", "UTC", "time zone of timestamps that carry none (RFC 3164 syslog, Cisco ASA), received or read from files, e.g. America/Chicago")
}

func (s *syslogFlags) enabled() bool { return s.udp != "" || s.tcp != "" || s.tls != "" }

// tlsConfig loads the TLS listener's certificate; nil when TLS is off.
func (s *syslogFlags) tlsConfig() (*tls.Config, error) {
	if s.tls == "" {
		if s.tlsCert != "" || s.tlsKey != "" || s.tlsCA != "" {
			return nil, fmt.Errorf("--syslog-tls-cert, --syslog-tls-key and --syslog-tls-client-ca need --syslog-tls ADDRESS")
		}
		return nil, nil
	}
	if s.tlsCert == "" || s.tlsKey == "" {
		return nil, fmt.Errorf("--syslog-tls needs --syslog-tls-cert and --syslog-tls-key")
	}
	cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--syslog-tls-cert/--syslog-tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--syslog-tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--syslog-tls-client-ca %s holds no PEM certificate", s.tlsCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func (s *syslogFlags) zone() (*time.Location, error) {
	loc, err := time.LoadLocation(s.location)
	if err != nil {
		return nil, fmt.Errorf("--syslog-location %q: want an IANA zone such as America/Chicago, or UTC: %w", s.location, err)
	}
	return loc, nil
}

// syslogSockets are the bound syslog sockets; any may be nil.
type syslogSockets struct {
	udp       net.PacketConn
	tcp, tls  net.Listener
	tlsConfig *tls.Config
}

func (s syslogSockets) close() {
	if s.udp != nil {
		s.udp.Close()
	}
	for _, ln := range []net.Listener{s.tcp, s.tls} {
		if ln != nil {
			ln.Close()
		}
	}
}

// listen binds the sockets asked for.
func (s *syslogFlags) listen(ctx context.Context) (syslogSockets, error) {
	var lc net.ListenConfig
	var socks syslogSockets
	var err error
	if s.udp != "" {
		if socks.udp, err = lc.ListenPacket(ctx, "udp", s.udp); err != nil {
			return socks, fmt.Errorf("--syslog-udp %s: %w", s.udp, err)
		}
	}
	if s.tcp != "" {
		if socks.tcp, err = lc.Listen(ctx, "tcp", s.tcp); err != nil {
			socks.close()
			return syslogSockets{}, fmt.Errorf("--syslog-tcp %s: %w", s.tcp, err)
		}
	}
	if s.tls != "" {
		if socks.tls, err = lc.Listen(ctx, "tcp", s.tls); err != nil {
			socks.close()
			return syslogSockets{}, fmt.Errorf("--syslog-tls %s: %w", s.tls, err)
		}
	}
	return socks, nil
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
func receiveSyslog(ctx context.Context, pl *ingest.Pipeline, socks syslogSockets, m *metrics.Metrics, log *slog.Logger) error {
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
	failed := make(chan error, 3)
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
	if socks.udp != nil {
		serve("udp", socks.udp.LocalAddr(), func(ctx context.Context) error { return lis.ServeUDP(ctx, socks.udp) })
	}
	if socks.tcp != nil {
		serve("tcp", socks.tcp.Addr(), func(ctx context.Context) error { return lis.ServeTCP(ctx, socks.tcp) })
	}
	if socks.tls != nil {
		serve("tls", socks.tls.Addr(), func(ctx context.Context) error { return lis.ServeTLS(ctx, socks.tls, socks.tlsConfig) })
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
