package cli

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"time"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
)

// streamTopic is the in-process bus's copy of the events topic that the
// streaming detectors read in `phiwatch all` and `phiwatch demo`: there a
// topic is one queue, which the loader already drains.
const streamTopic = bus.DefaultEventsTopic + ".stream"

// streamFlags configure the streaming detectors of `phiwatch analyze`.
type streamFlags struct {
	enabled bool
	group   string
	refresh time.Duration
}

func (f *streamFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "stream", true, "run the streaming detectors on the events topic next to the scheduled runs (--stream=false: scheduled only)")
	fs.StringVar(&f.group, "stream-group", "phiwatch-analyze", "Kafka consumer group of the streaming detectors")
	fs.DurationVar(&f.refresh, "stream-refresh", time.Minute, "how often the streaming detectors re-read reference data (roster, identities, schedule, patients)")
}

// newStream makes the streaming detectors with the scheduled run's
// detectors and tenant settings (af: time zone, hours, the tenants file,
// re-read at every reference refresh), reporting to m (nil: no metrics).
func newStream(s store.Store, af *analyzeFlags, keep, refresh time.Duration, m *metrics.Metrics, log *slog.Logger) (*analyze.Stream, error) {
	loc, hours, err := af.tenantSettings()
	if err != nil {
		return nil, err
	}
	st := &analyze.Stream{
		Store: s, Detectors: analyze.BatchDetectors(), Retention: keep, Refresh: refresh, Log: log,
		Tenant: func(id string, ds []analyze.Detector) (analyze.Tenant, []analyze.Detector, error) {
			tuning, err := af.tuning(time.Now())
			if err != nil {
				return analyze.Tenant{}, nil, err
			}
			return tuning.Resolve(id, analyze.Tenant{ID: id, Location: loc, Hours: hours}, ds)
		},
	}
	if m != nil {
		st.OnBatch = func(b analyze.StreamBatch) { observeStream(m, b) }
	}
	return st, nil
}

func observeStream(m *metrics.Metrics, b analyze.StreamBatch) {
	m.StreamConsumed.Add(float64(b.Events))
	m.StreamLag.Set(float64(b.Lag))
	for _, a := range b.Alerts {
		m.StreamAlerts.WithLabelValues(a.Rule, a.Severity).Inc()
	}
	for _, d := range b.Latencies {
		m.DetectionLatency.Observe(d.Seconds())
	}
}

// runStreamKafka consumes the events topic from Kafka until ctx ends,
// starting over after a failure.
func runStreamKafka(ctx context.Context, st *analyze.Stream, kf *kafkaFlags, group string, log *slog.Logger) {
	for ctx.Err() == nil {
		err := kf.ensureTopics(ctx)
		if err == nil {
			c := bus.NewKafkaConsumer(kf.config(), kf.eventsTopic, group)
			log.Info("streaming detectors consuming", "topic", kf.eventsTopic, "group", group, "rules", analyze.StreamingRules(st.Detectors))
			err = st.Consume(ctx, c)
			c.Close()
			if err == nil || ctx.Err() != nil {
				return
			}
		}
		log.Error("streaming detectors stopped; starting again in 5 s", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// startStream runs the streaming detectors in the background; the returned
// function stops them and waits.
func startStream(ctx context.Context, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// copyTopic is a producer that also publishes the messages of one topic to
// a second: the in-process bus feeds the loader and the streaming detectors
// from one ingest pipeline.
type copyTopic struct {
	bus.Producer
	from, to string
}

// Publish implements bus.Producer.
func (p copyTopic) Publish(ctx context.Context, msgs ...bus.Message) error {
	if err := p.Producer.Publish(ctx, msgs...); err != nil {
		return err
	}
	var cp []bus.Message
	for _, m := range msgs {
		if m.Topic == p.from {
			m.Topic = p.to
			cp = append(cp, m)
		}
	}
	if len(cp) == 0 {
		return nil
	}
	return p.Producer.Publish(ctx, cp...)
}

// memStream is the streaming detectors on the in-process bus's copy of the
// events topic (`phiwatch all`, `phiwatch demo`).
type memStream struct {
	done   chan struct{}
	cancel context.CancelFunc
}

func startMemStream(ctx context.Context, st *analyze.Stream, mem *bus.Memory, log *slog.Logger) *memStream {
	ctx, cancel := context.WithCancel(ctx)
	ms := &memStream{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(ms.done)
		if err := st.Consume(ctx, mem.Consumer(streamTopic)); err != nil {
			log.Error("streaming detectors stopped", "err", err)
		}
	}()
	return ms
}

// drain closes the stream's topic and waits until everything queued on it
// is judged; call it once every producer is done.
func (ms *memStream) drain(mem *bus.Memory) {
	mem.CloseTopic(streamTopic)
	<-ms.done
}

// stop ends the stream without draining and waits for it.
func (ms *memStream) stop() {
	ms.cancel()
	<-ms.done
}
