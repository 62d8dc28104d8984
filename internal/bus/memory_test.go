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
	for i, want := range []string{"1", "2"} {
		msg, err := c.Fetch(ctx)
		if err != nil || string(msg.Value) != want || msg.Topic != "a" || msg.Offset != int64(i) {
			t.Fatalf("fetch = %q offset %d, %v; want %s at offset %d", msg.Value, msg.Offset, err, want, i)
		}
	}
	if _, err := c.Fetch(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("fetch after drain: %v, want ErrClosed", err)
	}
	if err := m.Publish(ctx, Message{Topic: "a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v, want ErrClosed", err)
	}
}
