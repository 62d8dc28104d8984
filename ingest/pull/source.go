package pull

import (
	"context"
	"log/slog"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
)

// source is what every puller has: its identity, where records go, where
// its checkpoint is kept, and its API client.
type source struct {
	id    SourceID
	sink  Sink
	ckpt  Checkpoints
	http  *Client
	log   *slog.Logger
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// Deps are what a puller needs from its surroundings. Tests replace Now and
// Sleep so that no test waits on a real clock.
type Deps struct {
	Sink        Sink
	Checkpoints Checkpoints
	Log         *slog.Logger
	Now         func() time.Time
	Sleep       func(ctx context.Context, d time.Duration) error
}

func newSource(id SourceID, hc *Client, d Deps) source {
	s := source{id: id, sink: d.Sink, ckpt: d.Checkpoints, http: hc, log: d.Log, now: d.Now, sleep: d.Sleep}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("tenant", id.Tenant, "source", id.Name, "type", id.Type)
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	return s
}

// handle passes one record to the sink.
func (s *source) handle(ctx context.Context, data []byte, origin string) error {
	rec := parsers.Record{Data: data, Origin: origin, Tenant: s.id.Tenant, SourceName: s.id.Name}
	if err := s.sink.Handle(ctx, rec); err != nil {
		return sinkErr(err)
	}
	return nil
}

// commit flushes the sink, then saves state. That order is the no-loss
// guarantee: a checkpoint never gets ahead of what the bus acknowledged.
func (s *source) commit(ctx context.Context, state any) error {
	if err := s.sink.Flush(ctx); err != nil {
		return sinkErr(err)
	}
	return s.ckpt.Save(s.id, state)
}

// origin names where a record came from, e.g.
// "fhir-rest riverside/ehr-prod page 3 entry 7".
func (s *source) origin(where string) string {
	return s.id.Type + " " + s.id.String() + " " + where
}
