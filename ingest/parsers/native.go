package parsers

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/phiwatch/phiwatch/internal/event"
)

// Native reads phiwatch's own normalized events as NDJSON, one per line: what
// `phiwatch parse` prints. It lets events be replayed, generated for tests
// and benchmarks, or produced by a script for a system phiwatch has no
// parser for.
type Native struct{}

// Name implements Parser.
func (Native) Name() string { return "phiwatch-ndjson" }

// Kind implements Parser; each line says its own kind.
func (Native) Kind() event.SourceKind { return "" }

// Description implements Parser.
func (Native) Description() string {
	return "phiwatch normalized events, one JSON object per line (docs/event-model.md)"
}

// Parse implements Parser. A missing tenant, id or received time is filled
// from the record; the line itself is the raw record when none is given.
func (Native) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimSpace(rec.Data)
	if len(data) == 0 {
		return nil, errors.New("empty line")
	}
	e, err := event.Decode(data, true)
	if err != nil {
		return nil, fmt.Errorf("not a phiwatch event: %w", err)
	}
	if e.TenantID == "" {
		e.TenantID = rec.Tenant
	}
	if e.SourceName == "" {
		e.SourceName = rec.SourceName
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = rec.ReceivedAt
	}
	if e.Raw == "" {
		e.Raw = string(data)
	}
	if e.EventID == "" {
		e.EventID = event.ID(e.TenantID, e.SourceSystem, e.Raw)
	}
	e.Normalize()
	return []event.Event{e}, nil
}
