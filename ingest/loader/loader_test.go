package loader

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/synth"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flakyStore fails its first failures inserts, then stores.
type flakyStore struct {
	mu       sync.Mutex
	failures int
	calls    int
	rows     []store.EventRow
	tokens   []string
}

func (f *flakyStore) InsertEvents(_ context.Context, rows []store.EventRow, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return errors.New("clickhouse: connection refused")
	}
	f.rows = append(f.rows, rows...)
	f.tokens = append(f.tokens, token)
	return nil
}

// recordingConsumer wraps a consumer and records commits.
type recordingConsumer struct {
	bus.Consumer
	mu        sync.Mutex
	committed int
	store     *flakyStore
	// stored rows at the time of each commit, to prove commit follows insert
	storedAtCommit []int
}

func (r *recordingConsumer) Commit(ctx context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.committed += len(msgs)
	r.store.mu.Lock()
	r.storedAtCommit = append(r.storedAtCommit, len(r.store.rows))
	r.store.mu.Unlock()
	return nil
}

func publishSynth(t *testing.T, mem *bus.Memory, topic string, n int, extra ...bus.Message) {
	t.Helper()
	g := synth.New(synth.Options{Seed: 3})
	var msgs []bus.Message
	for range n {
		e := g.Next()
		v, _ := json.Marshal(e)
		msgs = append(msgs, bus.Message{Topic: topic, Value: v})
	}
	msgs = append(msgs, extra...)
	if err := mem.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestLoaderRetriesAndCommitsOnlyAfterInsert(t *testing.T) {
	mem := bus.NewMemory(5000)
	publishSynth(t, mem, "ev", 2500,
		bus.Message{Topic: "ev", Value: []byte("garbage")},
		bus.Message{Topic: "ev", Value: []byte(`{"tenant_id":"clinic-01"}`)})
	mem.CloseTopic("ev")
	fs := &flakyStore{failures: 3}
	rc := &recordingConsumer{Consumer: mem.Consumer("ev"), store: fs}
	var rejected []Reject
	m := metrics.New()
	l := New(Config{BatchRows: 1000, BatchWait: 50 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond},
		"ev", rc, EventSink{Store: fs}, func(_ context.Context, r []Reject) error { rejected = append(rejected, r...); return nil }, m, quiet())
	if err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fs.rows) != 2500 {
		t.Fatalf("stored %d rows, want 2500", len(fs.rows))
	}
	if len(rejected) != 2 {
		t.Fatalf("rejected %d messages, want 2 (garbage, invalid)", len(rejected))
	}
	if rc.committed != 2502 || l.Loaded() != 2502 {
		t.Fatalf("committed %d / loaded %d, want 2502", rc.committed, l.Loaded())
	}
	// Every commit happened after its rows were stored.
	want := []int{1000, 2000, 2500}
	for i, n := range rc.storedAtCommit {
		if n != want[i] {
			t.Fatalf("commit %d happened with %d rows stored, want %d", i, n, want[i])
		}
	}
	if got := testutil.ToFloat64(m.LoaderInsertFailures.WithLabelValues("access_events")); got != 3 {
		t.Fatalf("insert failures metric = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.LoaderInserted.WithLabelValues("access_events")); got != 2500 {
		t.Fatalf("inserted metric = %v, want 2500", got)
	}
}

func TestLoaderNeverCommitsWhatItCouldNotStore(t *testing.T) {
	mem := bus.NewMemory(100)
	publishSynth(t, mem, "ev", 10)
	fs := &flakyStore{failures: 1 << 30}
	rc := &recordingConsumer{Consumer: mem.Consumer("ev"), store: fs}
	l := New(Config{BatchRows: 5, BatchWait: 10 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond},
		"ev", rc, EventSink{Store: fs}, nil, metrics.New(), quiet())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if rc.committed != 0 {
		t.Fatalf("committed %d messages although no insert succeeded", rc.committed)
	}
	if fs.calls < 5 {
		t.Fatalf("only %d insert attempts in 300ms; the loader should keep retrying", fs.calls)
	}
}

func TestBatchTokenIsStableAndDistinct(t *testing.T) {
	a := []bus.Message{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "t", Partition: 1, Offset: 9}, {Topic: "t", Partition: 0, Offset: 6}}
	b := []bus.Message{{Topic: "t", Partition: 1, Offset: 9}, {Topic: "t", Partition: 0, Offset: 6}, {Topic: "t", Partition: 0, Offset: 5}}
	c := []bus.Message{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "t", Partition: 0, Offset: 6}}
	if batchToken(a) != batchToken(b) {
		t.Fatal("same offsets in another order gave another token")
	}
	if batchToken(a) == batchToken(c) {
		t.Fatal("different batches share a token")
	}
}

func TestStopWhenIdle(t *testing.T) {
	mem := bus.NewMemory(10)
	publishSynth(t, mem, "ev", 3)
	fs := &flakyStore{}
	l := New(Config{BatchRows: 100, BatchWait: 10 * time.Millisecond, StopWhenIdle: 100 * time.Millisecond},
		"ev", mem.Consumer("ev"), EventSink{Store: fs}, nil, metrics.New(), quiet())
	if err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fs.rows) != 3 {
		t.Fatalf("stored %d, want 3", len(fs.rows))
	}
}
