package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/loader"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/opsserver"
	"github.com/phiwatch/phiwatch/internal/store"
)

// loaderFlags configure batching.
type loaderFlags struct {
	rows, bytes  int
	wait, idle   time.Duration
	group        string
	migrate      bool
	retentionDay retentionFlag
}

func (l *loaderFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.rows, "batch-rows", 20000, "insert when a batch has this many rows")
	fs.IntVar(&l.bytes, "batch-bytes", 32<<20, "or this many bytes")
	fs.DurationVar(&l.wait, "batch-wait", time.Second, "or this long after its first message")
	fs.DurationVar(&l.idle, "stop-when-idle", 0, "exit once no message arrived for this long (0: run until stopped); after a crash use more than the 10s group session timeout")
	fs.StringVar(&l.group, "consumer-group", "phiwatch-loader", "Kafka consumer group")
	fs.BoolVar(&l.migrate, "migrate", true, "apply schema migrations at start")
	l.retentionDay.register(fs)
}

func (l *loaderFlags) config() loader.Config {
	return loader.Config{BatchRows: l.rows, BatchBytes: l.bytes, BatchWait: l.wait, StopWhenIdle: l.idle}
}

// runLoaders runs the events and dead-letter loaders until both return.
// eventsDone, if set, is called when the events loader has returned (the
// in-process bus then closes the dead-letter topic, which that loader feeds).
func runLoaders(ctx context.Context, lf *loaderFlags, events, dead bus.Consumer, rejects bus.Producer, deadTopic, eventsTopic string,
	s store.Store, m *metrics.Metrics, log *slog.Logger, eventsDone func()) (loadedEvents, loadedDead int64, err error) {
	keep, err := lf.retentionDay.duration()
	if err != nil {
		return 0, 0, err
	}
	retention := func(string) time.Duration { return keep }
	el := loader.New(lf.config(), eventsTopic, events, loader.EventSink{Store: s, Retention: retention},
		loader.PublishRejects(rejects, deadTopic, func(n int) { m.DeadLettered.WithLabelValues("decode").Add(float64(n)) }), m, log)
	dl := loader.New(lf.config(), deadTopic, dead, loader.DeadLetterSink{Store: s, Retention: retention}, nil, m, log)
	errs := make(chan error, 2)
	go func() {
		err := el.Run(ctx)
		if eventsDone != nil {
			eventsDone()
		}
		errs <- err
	}()
	go func() { errs <- dl.Run(ctx) }()
	for range 2 {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return el.Loaded(), dl.Loaded(), err
}

func setupLoad(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg    string
		lg     logFlags
		kf     kafkaFlags
		sf     storeFlags
		lf     loaderFlags
		listen string
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	kf.register(fs)
	sf.register(fs)
	lf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9466", "address for /metrics, /healthz and /readyz (empty: off)")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) > 0 {
			return fmt.Errorf("load takes no arguments, got %q", strings.Join(args, " "))
		}
		m := metrics.New()
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if lf.migrate {
			if _, err := store.Migrate(ctx, s, log); err != nil {
				return err
			}
		}
		if err := kf.ensureTopics(ctx); err != nil {
			return err
		}
		kc := kf.config()
		events := bus.NewKafkaConsumer(kc, kf.eventsTopic, lf.group)
		defer events.Close()
		dead := bus.NewKafkaConsumer(kc, kf.deadLetterTopic, lf.group+"-deadletters")
		defer dead.Close()
		prod := bus.NewKafkaProducer(kc)
		defer prod.Close()
		ops := opsserver.New(listen, m, map[string]opsserver.Check{
			"store": s.Ping,
			"kafka": func(ctx context.Context) error { return bus.Ping(ctx, kc.Brokers) },
		}, log)
		if err := ops.Start(); err != nil {
			return err
		}
		defer ops.Shutdown(context.Background())
		log.Info("loader started", "store", store.Redact(sf.dsn), "brokers", kf.brokers, "group", lf.group, "pid", os.Getpid())
		start := time.Now()
		nEvents, nDead, err := runLoaders(ctx, &lf, events, dead, prod, kf.deadLetterTopic, kf.eventsTopic, s, m, log, nil)
		log.Info("loader stopped", "events", nEvents, "dead_letters", nDead, "duration", time.Since(start).Round(time.Millisecond),
			"peak_rss_mib", strconv.FormatFloat(float64(peakRSS())/(1<<20), 'f', 1, 64))
		return err
	}
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
