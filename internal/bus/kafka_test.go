package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

func uniqueTopic(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
}

// Against the real broker: what is committed is not delivered again, what
// is not committed is redelivered to the group's next consumer.
func TestKafkaCommitAndRedelivery(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := KafkaConfig{Brokers: brokers, Partitions: 2}
	topic := uniqueTopic(t)
	if err := EnsureTopics(ctx, cfg, topic); err != nil {
		t.Fatal(err)
	}
	// Creating again is fine.
	if err := EnsureTopics(ctx, cfg, topic); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	p := NewKafkaProducer(cfg)
	defer p.Close()
	var msgs []Message
	for i := range 100 {
		msgs = append(msgs, Message{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprint(i)), Headers: map[string]string{"h": "v"}})
	}
	start := time.Now()
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("published 100 messages with acks=all in %s", time.Since(start))

	group := topic + "-g"
	c := NewKafkaConsumer(cfg, topic, group)
	seen := map[string]bool{}
	var firstHalf []Message
	for len(firstHalf) < 50 {
		m, err := c.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Headers["h"] != "v" {
			t.Fatalf("header lost: %v", m.Headers)
		}
		seen[string(m.Value)] = true
		firstHalf = append(firstHalf, m)
	}
	if err := c.Commit(ctx, firstHalf...); err != nil {
		t.Fatal(err)
	}
	// Read more but do not commit, then leave: those must come back.
	for range 10 {
		if _, err := c.Fetch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	c2 := NewKafkaConsumer(cfg, topic, group)
	defer c2.Close()
	got := map[string]bool{}
	for len(got) < 50 {
		m, err := c2.Fetch(ctx)
		if err != nil {
			t.Fatalf("after %d redelivered: %v", len(got), err)
		}
		if seen[string(m.Value)] {
			t.Fatalf("committed message %s delivered again", m.Value)
		}
		got[string(m.Value)] = true
	}
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	defer fcancel()
	if m, err := c2.Fetch(fctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expected no 101st message, got %q, %v", m.Value, err)
	}
}

func TestEnsureTopicsReportsUnreachableBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := EnsureTopics(ctx, KafkaConfig{Brokers: []string{"127.0.0.1:1"}}, "x")
	if err == nil {
		t.Fatal("want an error for a broker that is not there")
	}
}
