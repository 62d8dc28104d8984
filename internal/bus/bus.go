// Package bus moves normalized events and dead letters between phiwatch
// roles: Kafka between processes, an in-process queue inside `phiwatch all`.
// Delivery is at least once; consumers commit only what they have stored.
package bus

import (
	"context"
	"fmt"
)

// Default topic names.
const (
	DefaultEventsTopic     = "phiwatch.events"
	DefaultDeadLetterTopic = "phiwatch.deadletter"
)

// Message is one record on a topic. Partition and Offset are set by
// consumers; producers leave them zero.
type Message struct {
	Topic     string
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Partition int
	Offset    int64
}

// Origin names where a consumed message came from, for dead letters.
func (m Message) Origin() string {
	return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
}

// Producer publishes messages. Publish returns only once the bus has
// accepted every message (for Kafka: acknowledged by all in-sync replicas).
type Producer interface {
	Publish(ctx context.Context, msgs ...Message) error
	Close() error
}

// Consumer reads one topic as part of a consumer group.
type Consumer interface {
	// Fetch blocks for the next message or until ctx is done.
	Fetch(ctx context.Context) (Message, error)
	// Commit marks messages as processed; after a restart the group resumes
	// after the highest committed offset of each partition.
	Commit(ctx context.Context, msgs ...Message) error
	// Lag is the number of messages behind the end of the topic, -1 if unknown.
	Lag() int64
	Close() error
}
