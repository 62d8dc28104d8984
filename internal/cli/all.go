package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/opsserver"
	"github.com/phiwatch/phiwatch/internal/store"
)

func setupAll(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg    string
		lg     logFlags
		sf     storeFlags
		src    sourceFlags
		lf     loaderFlags
		listen string
		once   bool
		stream bool
		tz     string
		rf     reviewFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	src.register(fs)
	lf.register(fs)
	rf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9464", "address for /metrics, /healthz and /readyz (empty: off)")
	fs.BoolVar(&once, "once", false, "exit once the named files are loaded instead of running until stopped")
	fs.BoolVar(&stream, "stream", true, "run the streaming detectors on the events as they arrive (docs/detectors.md, Streaming)")
	fs.StringVar(&tz, "timezone", "UTC", "practices' local time zone for the streaming detectors (IANA name), as phiwatch analyze's")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		m := metrics.New()
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		mem := bus.NewMemory(20000)
		kf := kafkaFlags{eventsTopic: bus.DefaultEventsTopic, deadLetterTopic: bus.DefaultDeadLetterTopic}
		ops := opsserver.New(listen, m, map[string]opsserver.Check{"store": s.Ping}, log)
		if err := ops.Start(); err != nil {
			return err
		}
		defer ops.Shutdown(context.Background())
		if !once { // the monthly log review job (docs/review.md) runs with the long-running process only
			reviewCtx, stopReview := context.WithCancel(ctx)
			reviewDone, err := rf.start(reviewCtx, s, log)
			if err != nil {
				stopReview()
				return err
			}
			defer func() { stopReview(); reviewDone() }()
		}

		loadCtx, stopLoaders := context.WithCancel(ctx)
		defer stopLoaders()
		type loaded struct {
			events, dead int64
			err          error
		}
		done := make(chan loaded, 1)
		go func() {
			ev, dl, err := runLoaders(loadCtx, &lf, mem.Consumer(kf.eventsTopic), mem.Consumer(kf.deadLetterTopic), mem,
				kf.deadLetterTopic, kf.eventsTopic, s, m, log, func() { mem.CloseTopic(kf.deadLetterTopic) })
			done <- loaded{ev, dl, err}
		}()
		var prod bus.Producer = mem
		if stream {
			st, err := newStream(s, &analyzeFlags{timezone: tz, hours: "mon-fri 07:00-19:00"}, 0, time.Minute, m, log)
			if err != nil {
				return err
			}
			ms := startMemStream(ctx, st, mem, log)
			defer ms.stop()
			prod = copyTopic{Producer: mem, from: kf.eventsTopic, to: streamTopic}
			if once {
				defer ms.drain(mem) // runs before stop: judge everything read
			}
		}
		if len(args) > 0 {
			pl, err := src.pipeline(prod, &kf, m, log)
			if err != nil {
				return err
			}
			if err := ingestFiles(ctx, pl, args, e.stdin, log); err != nil {
				return err
			}
			st := pl.Stats()
			log.Info("inputs read", "records", st.Records, "events", st.Events, "dead_letters", st.DeadLetters)
		}
		if once {
			// Closing the topic lets the loaders drain it and return.
			mem.CloseTopic(kf.eventsTopic)
		}
		res := <-done
		if res.err != nil {
			return res.err
		}
		fmt.Fprintf(e.stdout, "loaded %d events and %d dead letters into %s\n", res.events, res.dead, s.Database())
		return nil
	}
}
