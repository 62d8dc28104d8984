package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// EventStore is what the events sink needs from the store.
type EventStore interface {
	InsertEvents(ctx context.Context, rows []store.EventRow, token string) error
}

// DeadLetterStore is what the dead-letter sink needs from the store.
type DeadLetterStore interface {
	InsertDeadLetters(ctx context.Context, rows []store.DeadLetterRow, token string) error
}

// Retention gives a tenant's retention; zero means the default.
type Retention func(tenant string) time.Duration

// EventSink decodes normalized events and inserts them into access_events.
type EventSink struct {
	Store     EventStore
	Retention Retention
	Now       func() time.Time
}

// Table implements Sink.
func (EventSink) Table() string { return "access_events" }

// Write implements Sink. Events that do not decode or validate are
// rejected: ingest validated them, so these come from a foreign or broken
// producer.
func (s EventSink) Write(ctx context.Context, msgs []bus.Message, token string) ([]Reject, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now()
	rows := make([]store.EventRow, 0, len(msgs))
	var rejects []Reject
	for _, m := range msgs {
		e, err := event.Decode(m.Value, false)
		if err != nil {
			rejects = append(rejects, Reject{m, fmt.Errorf("not a phiwatch event: %w", err)})
			continue
		}
		if err := e.Validate(t); err != nil {
			rejects = append(rejects, Reject{m, err})
			continue
		}
		var keep time.Duration
		if s.Retention != nil {
			keep = s.Retention(e.TenantID)
		}
		rows = append(rows, store.NewEventRow(&e, keep))
	}
	if err := s.Store.InsertEvents(ctx, rows, token); err != nil {
		return nil, err
	}
	return rejects, nil
}

// DeadLetterSink stores dead letters in the dead_letters table. A message
// that is not even a dead letter is stored as one, with the decode error.
type DeadLetterSink struct {
	Store     DeadLetterStore
	Retention Retention
}

// Table implements Sink.
func (DeadLetterSink) Table() string { return "dead_letters" }

// Write implements Sink; it never rejects.
func (s DeadLetterSink) Write(ctx context.Context, msgs []bus.Message, token string) ([]Reject, error) {
	rows := make([]store.DeadLetterRow, 0, len(msgs))
	for _, m := range msgs {
		var d deadletter.Record
		if err := json.Unmarshal(m.Value, &d); err != nil || d.ReceivedAt.IsZero() {
			if err == nil {
				err = fmt.Errorf("dead letter without received_at")
			}
			d = deadletter.New("", deadletter.StageDecode, "bus", m.Origin(), err, m.Value, time.Now())
		}
		var keep time.Duration
		if s.Retention != nil {
			keep = s.Retention(d.TenantID)
		}
		rows = append(rows, store.NewDeadLetterRow(&d, keep))
	}
	return nil, s.Store.InsertDeadLetters(ctx, rows, token)
}

// PublishRejects returns a RejectHandler that sends rejected events to the
// dead-letter topic, so they are kept with their reason.
func PublishRejects(p bus.Producer, topic string, onDead func(n int)) RejectHandler {
	return func(ctx context.Context, rejects []Reject) error {
		msgs := make([]bus.Message, len(rejects))
		for i, r := range rejects {
			d := deadletter.New(tenantOf(r.Msg.Value), deadletter.StageDecode, "bus", r.Msg.Origin(), r.Reason, r.Msg.Value, time.Now())
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			msgs[i] = bus.Message{Topic: topic, Key: []byte(d.TenantID), Value: v, Headers: map[string]string{"stage": string(d.Stage), "origin": d.Origin}}
		}
		if err := p.Publish(ctx, msgs...); err != nil {
			return fmt.Errorf("dead-letter %d rejected messages: %w", len(msgs), err)
		}
		if onDead != nil {
			onDead(len(msgs))
		}
		return nil
	}
}

// tenantOf recovers the tenant of a broken event when its JSON says it.
func tenantOf(v []byte) string {
	var t struct {
		TenantID string `json:"tenant_id"`
	}
	_ = json.Unmarshal(v, &t)
	return t.TenantID
}
