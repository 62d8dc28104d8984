// Package loader moves messages from the bus into ClickHouse: it fetches,
// batches by rows, bytes and time, inserts, and only then commits offsets.
// It never acknowledges what is not stored; a batch redelivered after a
// crash is collapsed by the store (insert dedup token + event_id).
package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
)

// Config bounds batches and retries.
type Config struct {
	BatchRows  int           // insert at this many rows (default 20000)
	BatchBytes int           // or this many message bytes (default 32 MiB)
	BatchWait  time.Duration // or this long after the first message (default 1 s)
	// StopWhenIdle makes Run return once nothing arrived for this long
	// (for one-shot loads and benchmarks); 0 runs until the context ends.
	// After a crash, set it above the consumer-group session timeout (10 s):
	// until then the group waits for the dead member and delivers nothing.
	StopWhenIdle time.Duration
	RetryMin     time.Duration // first retry delay (default 200 ms)
	RetryMax     time.Duration // longest retry delay (default 30 s)
}

func (c Config) withDefaults() Config {
	if c.BatchRows <= 0 {
		c.BatchRows = 20000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 32 << 20
	}
	if c.BatchWait <= 0 {
		c.BatchWait = time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	return c
}

// Sink turns a batch of messages into stored rows. Messages it cannot decode
// are returned as rejects, which the loader dead-letters before committing.
type Sink interface {
	Table() string
	// Write decodes and inserts the batch; token identifies the batch for
	// insert deduplication. It returns the messages it rejected.
	Write(ctx context.Context, msgs []bus.Message, token string) (rejected []Reject, err error)
}

// Reject is a message a sink could not accept.
type Reject struct {
	Msg    bus.Message
	Reason error
}

// RejectHandler keeps rejected messages (the events loader publishes them to
// the dead-letter topic).
type RejectHandler func(ctx context.Context, rejects []Reject) error

// Loader runs one consume → insert → commit loop.
type Loader struct {
	cfg      Config
	consumer bus.Consumer
	sink     Sink
	onReject RejectHandler
	m        *metrics.Metrics
	log      *slog.Logger
	topic    string

	loaded int64
}

// New returns a loader of topic into sink.
func New(cfg Config, topic string, c bus.Consumer, sink Sink, onReject RejectHandler, m *metrics.Metrics, log *slog.Logger) *Loader {
	return &Loader{cfg: cfg.withDefaults(), consumer: c, sink: sink, onReject: onReject, m: m, log: log.With("topic", topic, "table", sink.Table()), topic: topic}
}

// Loaded is the number of messages stored and committed so far.
func (l *Loader) Loaded() int64 { return l.loaded }

// Run loops until ctx ends (returns nil) or, with StopWhenIdle, until the
// topic has been quiet that long.
func (l *Loader) Run(ctx context.Context) error {
	for {
		batch, err := l.collect(ctx)
		if len(batch) > 0 {
			// A cancelled context still stops the retries inside; what was not
			// committed is redelivered to the next loader.
			if perr := l.process(ctx, batch); perr != nil {
				if ctx.Err() != nil {
					return nil
				}
				return perr
			}
		}
		if err != nil {
			if errors.Is(err, errIdle) || errors.Is(err, bus.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

var errIdle = errors.New("idle")

// collect gathers one batch: it waits for a first message, then takes more
// until the batch is full or BatchWait has passed since the first.
func (l *Loader) collect(ctx context.Context) ([]bus.Message, error) {
	var batch []bus.Message
	size := 0
	var deadline time.Time
	for len(batch) < l.cfg.BatchRows && size < l.cfg.BatchBytes {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		switch {
		case len(batch) > 0:
			fctx, cancel = context.WithDeadline(ctx, deadline)
		case l.cfg.StopWhenIdle > 0:
			fctx, cancel = context.WithTimeout(ctx, l.cfg.StopWhenIdle)
		}
		msg, err := l.consumer.Fetch(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return batch, ctx.Err()
			}
			if errors.Is(err, bus.ErrClosed) {
				return batch, err
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if len(batch) > 0 {
					return batch, nil
				}
				return nil, errIdle
			}
			return batch, fmt.Errorf("fetch from %s: %w", l.topic, err)
		}
		if len(batch) == 0 {
			deadline = time.Now().Add(l.cfg.BatchWait)
		}
		batch = append(batch, msg)
		size += len(msg.Value)
	}
	return batch, nil
}

// process stores a batch, retrying with backoff until it is stored or ctx
// ends, then commits it.
func (l *Loader) process(ctx context.Context, batch []bus.Message) error {
	table := l.sink.Table()
	l.m.LoaderConsumed.WithLabelValues(l.topic).Add(float64(len(batch)))
	token := batchToken(batch)
	delay := l.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		rejects, err := l.sink.Write(ctx, batch, token)
		if err == nil && len(rejects) > 0 && l.onReject != nil {
			err = l.onReject(ctx, rejects)
		}
		if err == nil {
			stored := len(batch) - len(rejects)
			took := time.Since(start)
			l.log.Debug("batch stored", "rows", stored, "rejected", len(rejects), "duration", took)
			l.m.LoaderInsertDuration.WithLabelValues(table).Observe(took.Seconds())
			l.m.LoaderInserted.WithLabelValues(table).Add(float64(stored))
			l.m.LoaderBatchRows.Observe(float64(stored))
			l.m.LoaderLastInsert.WithLabelValues(table).SetToCurrentTime()
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.m.LoaderInsertFailures.WithLabelValues(table).Inc()
		l.log.Warn("insert failed; retrying (offsets stay uncommitted)", "attempt", attempt, "rows", len(batch), "retry_in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(delay*2, l.cfg.RetryMax)
	}
	// Commit after the store acknowledged. If the commit fails the batch is
	// redelivered and collapses in the store, so keep going.
	if err := l.consumer.Commit(ctx, batch...); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("commit failed; the batch will be redelivered and deduplicated", "err", err)
	}
	l.loaded += int64(len(batch))
	l.m.LoaderLag.WithLabelValues(l.topic).Set(float64(max(l.consumer.Lag(), 0)))
	return nil
}

// batchToken names a batch by its offset ranges, so a retry of the same
// batch after a failed or timed-out insert is dropped by ClickHouse.
func batchToken(batch []bus.Message) string {
	type span struct{ lo, hi int64 }
	spans := map[string]*span{}
	for _, m := range batch {
		k := fmt.Sprintf("%s/%d", m.Topic, m.Partition)
		s, ok := spans[k]
		if !ok {
			spans[k] = &span{m.Offset, m.Offset}
			continue
		}
		s.lo, s.hi = min(s.lo, m.Offset), max(s.hi, m.Offset)
	}
	keys := make([]string, 0, len(spans))
	for k, s := range spans {
		keys = append(keys, fmt.Sprintf("%s:%d-%d", k, s.lo, s.hi))
	}
	sort.Strings(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, ",")))
	return hex.EncodeToString(sum[:16])
}
