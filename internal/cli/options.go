package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/store"
)

// storeFlags select and open the ClickHouse store.
type storeFlags struct {
	dsn, database, chdbLib string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dsn, "store", "chdb:phiwatch-data", "ClickHouse store: chdb:DIR for the embedded engine, or clickhouse://user:password@host:9000 for a server")
	fs.StringVar(&s.database, "database", "phiwatch", "ClickHouse database for phiwatch's tables (a clickhouse:// DSN path overrides it)")
	fs.StringVar(&s.chdbLib, "chdb-lib", "", "path to libchdb.so (default: CHDB_LIB_PATH, the cache filled by `make libchdb`, /usr/local/lib)")
}

func (s *storeFlags) open(ctx context.Context) (store.Store, error) {
	return store.Open(ctx, store.Options{DSN: s.dsn, Database: s.database, ChdbLib: s.chdbLib})
}

// kafkaFlags configure the Kafka bus.
type kafkaFlags struct {
	brokers, eventsTopic, deadLetterTopic string
	partitions                            int
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&k.eventsTopic, "events-topic", bus.DefaultEventsTopic, "topic of normalized events")
	fs.StringVar(&k.deadLetterTopic, "dead-letter-topic", bus.DefaultDeadLetterTopic, "topic of rejected records, with the reason")
	fs.IntVar(&k.partitions, "kafka-partitions", 4, "partitions of the topics phiwatch creates")
}

func (k *kafkaFlags) config() bus.KafkaConfig {
	var bs []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			bs = append(bs, b)
		}
	}
	return bus.KafkaConfig{Brokers: bs, Partitions: k.partitions}
}

func (k *kafkaFlags) ensureTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return bus.EnsureTopics(ctx, k.config(), k.eventsTopic, k.deadLetterTopic)
}

// retentionFlag is the default retention in days.
type retentionFlag struct{ days int }

func (r *retentionFlag) register(fs *flag.FlagSet) {
	fs.IntVar(&r.days, "retention-days", 7*365, "days to keep events and dead letters (HIPAA documentation: 6 years)")
}

func (r *retentionFlag) duration() (time.Duration, error) {
	if r.days < 1 {
		return 0, fmt.Errorf("--retention-days %d: must be at least 1", r.days)
	}
	return time.Duration(r.days) * 24 * time.Hour, nil
}
