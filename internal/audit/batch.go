package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Batcher writes the per-request rows (ActionRequest) in batches and every
// other entry at once. A request row is written after its answer was sent
// and guards nothing, so it may wait up to Delay for company: one insert
// (one ClickHouse part) per batch instead of one per request. Explicit
// entries (reveals, event reads, exports, logins, token and grant changes)
// are written before Record returns, as their callers fail closed on them.
//
// Pending rows are written by a timer, not a goroutine of their own, so a
// Batcher needs no Close; Flush writes them at once (call it on shutdown:
// rows still pending when the process dies are lost).
type Batcher struct {
	a     *StoreAuditor
	log   *slog.Logger
	max   int
	delay time.Duration

	mu      sync.Mutex
	pending []Entry
	timer   *time.Timer
}

// BatchOptions tune a Batcher.
type BatchOptions struct {
	MaxRows int           // rows per insert (default 500)
	Delay   time.Duration // longest a row waits (default 1 s)
}

// NewBatcher batches a's request rows.
func NewBatcher(a *StoreAuditor, log *slog.Logger, o BatchOptions) *Batcher {
	if o.MaxRows <= 0 {
		o.MaxRows = 500
	}
	if o.Delay <= 0 {
		o.Delay = time.Second
	}
	return &Batcher{a: a, log: log, max: o.MaxRows, delay: o.Delay}
}

// Record queues a request row, or writes any other entry at once.
func (b *Batcher) Record(ctx context.Context, e Entry) error {
	if e.Action != ActionRequest {
		return b.a.Record(ctx, e)
	}
	if e.Time.IsZero() {
		e.Time = b.a.now()
	}
	b.mu.Lock()
	b.pending = append(b.pending, e)
	var full []Entry
	switch {
	case len(b.pending) >= b.max:
		full = b.take()
	case len(b.pending) == 1:
		b.timer = time.AfterFunc(b.delay, b.flushPending)
	}
	b.mu.Unlock()
	if full != nil {
		return b.a.RecordBatch(ctx, full)
	}
	return nil
}

// take empties the queue; the caller holds mu.
func (b *Batcher) take() []Entry {
	rows := b.pending
	b.pending = nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return rows
}

// Flush writes the pending rows now.
func (b *Batcher) Flush(ctx context.Context) error {
	b.mu.Lock()
	rows := b.take()
	b.mu.Unlock()
	return b.a.RecordBatch(ctx, rows)
}

func (b *Batcher) flushPending() {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := b.Flush(ctx); err != nil {
		b.log.Error("audit entries not written", "err", err)
	}
}
