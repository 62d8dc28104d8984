package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Memory is the in-process bus for `phiwatch all` and `phiwatch demo`: one
// bounded queue per topic, so a slow loader pushes back on ingest instead of
// growing memory. It keeps nothing across restarts; the sources are re-read.
type Memory struct {
	capacity int
	mu       sync.Mutex
	topics   map[string]*memTopic
}

type memTopic struct {
	ch     chan Message
	mu     sync.RWMutex // held for reading while sending, for writing to close
	closed bool
	offset atomic.Int64
}

// NewMemory returns an in-process bus holding at most capacity messages per topic.
func NewMemory(capacity int) *Memory {
	if capacity <= 0 {
		capacity = 10000
	}
	return &Memory{capacity: capacity, topics: map[string]*memTopic{}}
}

func (m *Memory) topic(name string) *memTopic {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.topics[name]
	if !ok {
		t = &memTopic{ch: make(chan Message, m.capacity)}
		m.topics[name] = t
	}
	return t
}

// ErrClosed is returned once a topic of the in-process bus is closed: by
// Publish at once, by Fetch after the queue is drained.
var ErrClosed = errors.New("bus topic closed")

// Publish implements Producer; it blocks while the topic is full.
func (m *Memory) Publish(ctx context.Context, msgs ...Message) error {
	for _, msg := range msgs {
		if err := m.topic(msg.Topic).send(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func (t *memTopic) send(ctx context.Context, msg Message) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return fmt.Errorf("publish to %s: %w", msg.Topic, ErrClosed)
	}
	// Offsets identify messages (the loader's insert deduplication tokens
	// are built from them), so each gets its own, as on Kafka.
	msg.Offset = t.offset.Add(1) - 1
	select {
	case t.ch <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseTopic ends a topic: its consumers drain what is queued and then get
// ErrClosed. Call it only after every producer of the topic is done.
func (m *Memory) CloseTopic(name string) {
	t := m.topic(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ch)
	}
}

// Close implements Producer; topics stay open for CloseTopic.
func (m *Memory) Close() error { return nil }

// Consumer returns a consumer of one topic. All consumers of a topic share
// its queue (one group).
func (m *Memory) Consumer(topic string) Consumer {
	return &memConsumer{t: m.topic(topic), name: topic}
}

type memConsumer struct {
	t    *memTopic
	name string
}

func (c *memConsumer) Fetch(ctx context.Context) (Message, error) {
	select {
	case msg, ok := <-c.t.ch:
		if !ok {
			return Message{}, ErrClosed
		}
		msg.Topic = c.name
		return msg, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

func (c *memConsumer) Commit(context.Context, ...Message) error { return nil }
func (c *memConsumer) Lag() int64                               { return int64(len(c.t.ch)) }
func (c *memConsumer) Close() error                             { return nil }
