// Package ingest reads source records, parses them into normalized events
// and publishes them to the bus; what cannot be parsed or validated goes to
// the dead-letter topic with the reason.
package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/metrics"
)

// Pipeline parses records of one format and publishes the results.
type Pipeline struct {
	Parser          parsers.Parser
	Producer        bus.Producer
	EventsTopic     string
	DeadLetterTopic string
	Tenant          string // tenant of the source, for records that do not say
	SourceName      string
	BatchSize       int // messages per publish; default 1000
	Metrics         *metrics.Metrics
	Log             *slog.Logger
	Now             func() time.Time // default time.Now
	// Enrich, when set, adds to each parsed event before it is validated
	// (GeoIP of the client address, say). It must not fail the event.
	Enrich func(*event.Event)

	pending []bus.Message
	stats   Stats
}

// Stats counts what a pipeline did.
type Stats struct {
	Records     int64
	Events      int64
	DeadLetters int64
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats { return p.stats }

// Handle parses one record, queueing its events (or a dead letter) for the
// next flush.
func (p *Pipeline) Handle(ctx context.Context, rec parsers.Record) error {
	name := p.Parser.Name()
	p.stats.Records++
	p.Metrics.IngestRecords.WithLabelValues(name).Inc()
	if rec.Tenant == "" {
		rec.Tenant = p.Tenant
	}
	if rec.SourceName == "" {
		rec.SourceName = p.SourceName
	}
	if rec.ReceivedAt.IsZero() {
		rec.ReceivedAt = p.now()
	}
	events, err := p.Parser.Parse(rec)
	if err != nil {
		if err := p.deadLetter(ctx, rec, deadletter.StageParse, err); err != nil {
			return err
		}
	}
	now := p.now()
	for i := range events {
		e := &events[i]
		if p.Enrich != nil {
			p.Enrich(e)
		}
		if err := e.Validate(now); err != nil {
			if err := p.deadLetter(ctx, rec, deadletter.StageValidate, err); err != nil {
				return err
			}
			continue
		}
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		p.stats.Events++
		p.Metrics.IngestEvents.WithLabelValues(name).Inc()
		if err := p.queue(ctx, bus.Message{Topic: p.EventsTopic, Key: []byte(e.PartitionKey()), Value: v}); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) deadLetter(ctx context.Context, rec parsers.Record, stage deadletter.Stage, reason error) error {
	d := deadletter.New(rec.Tenant, stage, p.Parser.Name(), rec.Origin, reason, rec.Data, rec.ReceivedAt)
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	p.stats.DeadLetters++
	p.Metrics.IngestFailures.WithLabelValues(p.Parser.Name(), string(stage)).Inc()
	p.Metrics.DeadLettered.WithLabelValues(string(stage)).Inc()
	p.Log.Debug("record rejected", "origin", rec.Origin, "stage", stage, "reason", reason)
	return p.queue(ctx, bus.Message{Topic: p.DeadLetterTopic, Key: []byte(rec.Tenant), Value: v,
		Headers: map[string]string{"stage": string(stage), "format": p.Parser.Name(), "origin": rec.Origin}})
}

func (p *Pipeline) queue(ctx context.Context, m bus.Message) error {
	p.pending = append(p.pending, m)
	size := p.BatchSize
	if size <= 0 {
		size = 1000
	}
	if len(p.pending) >= size {
		return p.Flush(ctx)
	}
	return nil
}

// Flush publishes what is queued; it returns once the bus has acknowledged it.
func (p *Pipeline) Flush(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	start := time.Now()
	if err := p.Producer.Publish(ctx, p.pending...); err != nil {
		return err
	}
	p.Metrics.PublishDuration.Observe(time.Since(start).Seconds())
	p.pending = p.pending[:0]
	return nil
}

// Read handles every record of r: framed by the parser when it is a
// Framer, a line at a time otherwise.
func (p *Pipeline) Read(ctx context.Context, r io.Reader, name string) error {
	f, ok := p.Parser.(parsers.Framer)
	if !ok {
		return p.ReadLines(ctx, r, name)
	}
	err := f.Frame(r, func(data []byte, pos string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return p.Handle(ctx, parsers.Record{Data: data, Origin: name + ":" + pos})
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return p.Flush(ctx)
}

// ReadLines handles every line of r as a record (origin "name:line") and
// flushes at the end. Lines longer than the raw-record limit are dead-lettered
// (truncated), not dropped. It logs progress on long inputs.
func (p *Pipeline) ReadLines(ctx context.Context, r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var lineNo int64
	lastLog := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, tooLong, err := readLine(br, event.MaxRawBytes)
		if len(line) > 0 || tooLong {
			lineNo++
			rec := parsers.Record{Data: line, Origin: fmt.Sprintf("%s:%d", name, lineNo)}
			if tooLong {
				rec.ReceivedAt = p.now()
				if rec.Tenant == "" {
					rec.Tenant = p.Tenant
				}
				p.stats.Records++
				p.Metrics.IngestRecords.WithLabelValues(p.Parser.Name()).Inc()
				if err := p.deadLetter(ctx, rec, deadletter.StageParse, fmt.Errorf("line longer than %d bytes (kept truncated)", event.MaxRawBytes)); err != nil {
					return err
				}
			} else if len(bytes.TrimSpace(line)) > 0 {
				if err := p.Handle(ctx, rec); err != nil {
					return err
				}
			}
			if time.Since(lastLog) > 5*time.Second {
				p.Log.Info("ingest progress", "input", name, "lines", lineNo, "events", p.stats.Events, "dead_letters", p.stats.DeadLetters)
				lastLog = time.Now()
			}
		} else if err == nil {
			lineNo++ // an empty line still counts for line numbers
		}
		if errors.Is(err, io.EOF) {
			return p.Flush(ctx)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// max is returned truncated to max with tooLong set, and the rest skipped.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, isPrefix, e := br.ReadLine()
		if len(line)+len(frag) > max {
			room := max - len(line)
			if room > 0 {
				line = append(line, frag[:room]...)
			}
			tooLong = true
		} else {
			line = append(line, frag...)
		}
		if e != nil {
			return line, tooLong, e
		}
		if !isPrefix {
			return line, tooLong, nil
		}
	}
}
