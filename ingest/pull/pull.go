// Package pull fetches audit records from source APIs (FHIR REST and Bulk
// Data, the Microsoft 365 Management Activity API, the Google Workspace
// Reports API) and hands them to the ingest pipeline.
//
// Every puller follows one rule: a checkpoint moves only after the records
// before it were flushed to the sink (the bus acknowledged them). A crash
// between fetching and flushing therefore fetches those records again on the
// next start, never skips them; re-delivery is harmless because the
// pipeline's event ids are stable hashes of the record. Each puller also
// remembers what it flushed at its checkpoint's boundary, so a restart does
// not re-send records the sink already took. docs/pullers.md explains the
// reasoning per API.
package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/metrics"
)

// Source types.
const (
	TypeFHIRREST      = "fhir-rest"
	TypeFHIRBulk      = "fhir-bulk"
	TypeM365Activity  = "m365-activity"
	TypeGoogleReports = "google-reports"
)

// ParserFor names the parser that reads what a source type pulls.
func ParserFor(sourceType string) string {
	switch sourceType {
	case TypeFHIRREST, TypeFHIRBulk:
		return "fhir-auditevent"
	case TypeM365Activity:
		return "m365-audit"
	case TypeGoogleReports:
		return "google-reports"
	}
	return ""
}

// Sink takes pulled records. ingest.Pipeline is one: Handle parses and
// queues, Flush returns once the bus has acknowledged everything queued.
type Sink interface {
	Handle(ctx context.Context, rec parsers.Record) error
	Flush(ctx context.Context) error
}

// SourceID names one configured source.
type SourceID struct {
	Tenant string
	Name   string
	Type   string
}

func (id SourceID) String() string { return id.Tenant + "/" + id.Name }

// Checkpoints keeps each source's position durably. FileStore is the
// implementation; state is the puller's own JSON-encodable struct.
type Checkpoints interface {
	// Load fills state from the source's checkpoint and reports whether
	// there was one.
	Load(id SourceID, state any) (bool, error)
	// Save replaces the source's checkpoint; it returns once it is durable.
	Save(id SourceID, state any) error
}

// Puller fetches one source.
type Puller interface {
	// Pull runs one pass: it fetches what is new since the checkpoint,
	// hands it to the sink and advances the checkpoint after each flush.
	// It returns the time the checkpoint stands at (everything the source
	// recorded before it is published; zero when not known) and, if the
	// pass stopped early, why.
	Pull(ctx context.Context) (time.Time, error)
}

// Runner runs one puller on its interval until its context ends. A failed
// pass is logged and counted; the next pass starts from the last checkpoint,
// at the next interval or sooner: after RetryMin, doubling with each failure
// in a row up to the interval, so a short outage (a broker election, a
// throttled API) does not cost a whole interval of a slow source.
type Runner struct {
	ID       SourceID
	Interval time.Duration
	RetryMin time.Duration // first wait after a failed pass; default 10s
	Puller   Puller
	// Sink is the puller's sink; when it is a Discarder, what a failed pass
	// left unflushed is discarded (the next pass fetches it again).
	Sink    Sink
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time                                 // default time.Now
	Sleep   func(ctx context.Context, d time.Duration) error // default sleepCtx
}

// Discarder is a sink that can drop the records it holds unflushed.
// ingest.Pipeline keeps a failed batch queued to publish it with the next
// one; for a puller that only adds duplicates, since the checkpoint did not
// move and those records are fetched again.
type Discarder interface {
	Discard()
}

// Run pulls, waits the interval, and pulls again, until ctx ends. It
// returns nil then: an interrupted pass lost nothing, since its checkpoint
// did not move past what was flushed.
func (r *Runner) Run(ctx context.Context) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	r.Log.Info("puller started", "tenant", r.ID.Tenant, "source", r.ID.Name, "type", r.ID.Type, "interval", r.Interval)
	failures := 0
	for {
		wait := r.Interval
		if err := r.Once(ctx); err != nil && ctx.Err() == nil {
			failures++
			wait = r.retryWait(failures)
		} else {
			failures = 0
		}
		if err := sleep(ctx, wait); err != nil {
			r.Log.Info("puller stopped", "tenant", r.ID.Tenant, "source", r.ID.Name)
			return nil
		}
	}
}

// retryWait is the wait after the n-th failed pass in a row.
func (r *Runner) retryWait(n int) time.Duration {
	d := r.RetryMin
	if d <= 0 {
		d = 10 * time.Second
	}
	for i := 1; i < n && d < r.Interval; i++ {
		d *= 2
	}
	return min(d, r.Interval)
}

// Once runs a single pass and records its outcome in metrics and the log.
func (r *Runner) Once(ctx context.Context) error {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	pos, err := r.Puller.Pull(ctx)
	end := now()
	if !pos.IsZero() {
		r.Metrics.PullLag.WithLabelValues(r.ID.Tenant, r.ID.Name).Set(max(0, end.Sub(pos).Seconds()))
	}
	if err != nil {
		if d, ok := r.Sink.(Discarder); ok {
			d.Discard()
		}
	}
	switch {
	case err == nil:
		r.Metrics.PullLastSuccess.WithLabelValues(r.ID.Tenant, r.ID.Name).Set(float64(end.UnixMilli()) / 1000)
		r.Log.Debug("pull pass done", "tenant", r.ID.Tenant, "source", r.ID.Name, "checkpoint", pos, "duration", end.Sub(start).Round(time.Millisecond))
	case ctx.Err() != nil:
		// Stopping: not a failure of the source.
	default:
		reason := Reason(err)
		r.Metrics.PullErrors.WithLabelValues(r.ID.Type, reason).Inc()
		r.Log.Error("pull failed; retrying from the last checkpoint",
			"tenant", r.ID.Tenant, "source", r.ID.Name, "type", r.ID.Type, "reason", reason, "err", err)
	}
	return err
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countingSink counts the records handed through it.
type countingSink struct {
	Sink
	m   *metrics.Metrics
	typ string
}

func (c countingSink) Handle(ctx context.Context, rec parsers.Record) error {
	c.m.PullRecords.WithLabelValues(c.typ).Inc()
	return c.Sink.Handle(ctx, rec)
}

// Discard implements Discarder when the wrapped sink does.
func (c countingSink) Discard() {
	if d, ok := c.Sink.(Discarder); ok {
		d.Discard()
	}
}

// reasonError tags an error with a metrics reason.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

func withReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &reasonError{reason: reason, err: err}
}

// Errors of the sink and of the checkpoint store, tagged for metrics.
func sinkErr(err error) error { return withReason("sink", fmt.Errorf("publish to the bus: %w", err)) }

func invalidResponse(format string, args ...any) error {
	return withReason("invalid_response", fmt.Errorf(format, args...))
}

// Reason classifies a pull error for the errors metric: rate_limited,
// server_error, auth, not_found, client_error, network, timeout,
// invalid_response, sink, checkpoint, or other.
func Reason(err error) string {
	var re *reasonError
	var he *HTTPError
	var ae *AuthError
	switch {
	case errors.As(err, &re):
		return re.reason
	case errors.As(err, &ae):
		return "auth"
	case errors.As(err, &he):
		switch {
		case he.Status == 429:
			return "rate_limited"
		case he.Status >= 500:
			return "server_error"
		case he.Status == 401 || he.Status == 403:
			return "auth"
		case he.Status == 404 || he.Status == 410:
			return "not_found"
		default:
			return "client_error"
		}
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case isNetworkError(err):
		return "network"
	}
	return "other"
}
