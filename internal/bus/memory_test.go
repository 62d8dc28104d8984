package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryBackpressureAndClose(t *testing.T) {
	m := NewMemory(2)
	ctx := context.Background()
	if err := m.Publish(ctx, Message{Topic: "a", Value: []byte("1")}, Message{Topic: "a", Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	// Full: a third publish waits until the context gives up.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := m.Publish(tctx, Message{Topic: "a", Value: []byte("3")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish to a full topic: %v, want deadline exceeded", err)
	}
	c := m.Consumer("a")
	m.CloseTopic("a")
	for _, want := range []string{"1", "2"} {
		msg, err := c.Fetch(ctx)
		if err != nil || string(msg.Value) != want || msg.Topic != "a" {
			t.Fatalf("fetch = %q, %v; want %s", msg.Value, err, want)
		}
	}
	if _, err := c.Fetch(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("fetch after drain: %v, want ErrClosed", err)
	}
	if err := m.Publish(ctx, Message{Topic: "a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v, want ErrClosed", err)
	}
}
