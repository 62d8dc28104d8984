package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaConfig configures the Kafka bus.
type KafkaConfig struct {
	Brokers []string
	// BatchTimeout bounds how long the writer waits to fill a batch; kafka-go's
	// default of 1 s would stall every synchronous publish.
	BatchTimeout time.Duration
	BatchSize    int
	Partitions   int // for topics phiwatch creates
	Replication  int
}

func (c KafkaConfig) withDefaults() KafkaConfig {
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.Replication <= 0 {
		c.Replication = 1
	}
	return c
}

// KafkaProducer publishes to Kafka with acks from all in-sync replicas.
type KafkaProducer struct {
	w *kafka.Writer
}

// NewKafkaProducer returns a producer; topics must exist (see EnsureTopics).
func NewKafkaProducer(cfg KafkaConfig) *KafkaProducer {
	cfg = cfg.withDefaults()
	return &KafkaProducer{w: &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Balancer:        &kafka.Murmur2Balancer{}, // same partitioning as Java clients
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    cfg.BatchTimeout,
		BatchSize:       cfg.BatchSize,
		BatchBytes:      16 << 20,
		Compression:     kafka.Lz4,
		MaxAttempts:     10,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
	}}
}

// Publish implements Producer.
func (p *KafkaProducer) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for k, v := range m.Headers {
			km[i].Headers = append(km[i].Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	if err := p.w.WriteMessages(ctx, km...); err != nil {
		return fmt.Errorf("publish %d messages to Kafka %s: %w", len(msgs), p.w.Addr, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *KafkaProducer) Close() error { return p.w.Close() }

// KafkaConsumer reads one topic in a consumer group and commits explicitly.
type KafkaConsumer struct {
	r *kafka.Reader
}

// NewKafkaConsumer joins group on topic. Offsets are committed synchronously
// by Commit only, never on fetch.
func NewKafkaConsumer(cfg KafkaConfig, topic, group string) *KafkaConsumer {
	return &KafkaConsumer{r: kafka.NewReader(kafka.ReaderConfig{
		Brokers:  cfg.Brokers,
		Topic:    topic,
		GroupID:  group,
		MinBytes: 1,
		MaxBytes: 16 << 20,
		MaxWait:  250 * time.Millisecond,
		// kafka-go's default queue of 100 messages starves a loader that
		// inserts tens of thousands of rows per batch.
		QueueCapacity:  20000,
		CommitInterval: 0,
		StartOffset:    kafka.FirstOffset,
		// A quick rebalance after a consumer dies (the loader crash test
		// restarts one) instead of kafka-go's default 30 s session timeout.
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  10 * time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
	})}
}

// Fetch implements Consumer.
func (c *KafkaConsumer) Fetch(ctx context.Context) (Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return Message{}, err
	}
	out := Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Partition: m.Partition, Offset: m.Offset}
	if len(m.Headers) > 0 {
		out.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			out.Headers[h.Key] = string(h.Value)
		}
	}
	return out, nil
}

// Commit implements Consumer.
func (c *KafkaConsumer) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := c.r.CommitMessages(ctx, km...); err != nil {
		return fmt.Errorf("commit offsets to Kafka: %w", err)
	}
	return nil
}

// Lag implements Consumer.
func (c *KafkaConsumer) Lag() int64 { return c.r.Stats().Lag }

// Close leaves the group.
func (c *KafkaConsumer) Close() error { return c.r.Close() }

// EnsureTopics creates the topics that do not exist yet, on the controller.
func EnsureTopics(ctx context.Context, cfg KafkaConfig, topics ...string) error {
	cfg = cfg.withDefaults()
	if len(cfg.Brokers) == 0 {
		return errors.New("no Kafka brokers configured (--kafka-brokers)")
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		return fmt.Errorf("connect to Kafka %s: %w", cfg.Brokers[0], err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find Kafka controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("connect to Kafka controller %s:%d: %w", ctrl.Host, ctrl.Port, err)
	}
	defer cc.Close()
	specs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		specs[i] = kafka.TopicConfig{Topic: t, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.Replication}
	}
	if err := cc.CreateTopics(specs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create Kafka topics %v: %w", topics, err)
	}
	return nil
}

// Ping checks that a broker answers, for readiness.
func Ping(ctx context.Context, brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("no Kafka brokers configured")
	}
	conn, err := (&kafka.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("Kafka %s: %w", brokers[0], err)
	}
	return conn.Close()
}
