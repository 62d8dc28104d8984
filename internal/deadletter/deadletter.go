// Package deadletter describes a record phiwatch could not accept. Nothing
// is dropped silently: every record that fails to parse, validate or decode
// is published to the dead-letter topic with the reason, and the loader
// stores it in the dead_letters table where an operator can see and replay it.
package deadletter

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Stage says where the record failed.
type Stage string

// Stages.
const (
	StageParse    Stage = "parse"    // the parser could not read it
	StageValidate Stage = "validate" // parsed, but the event is unusable
	StageDecode   Stage = "decode"   // a bus message the loader could not decode
)

// Record is one rejected input.
type Record struct {
	TenantID   string    `json:"tenant_id"`
	Stage      Stage     `json:"stage"`
	Format     string    `json:"format"` // parser name, or "bus"
	Origin     string    `json:"origin"` // file:line, syslog peer, topic/partition/offset
	Reason     string    `json:"reason"`
	Raw        string    `json:"raw"`
	RawBase64  bool      `json:"raw_base64,omitempty"` // raw was not UTF-8
	ReceivedAt time.Time `json:"received_at"`
}

// MaxRaw bounds the raw bytes a dead letter carries, so it fits a Kafka
// message (1 MiB by default) even base64-encoded; the origin still says
// where the whole record is.
const MaxRaw = 512 << 10

// New builds a record; raw that is not valid UTF-8 is kept base64-encoded
// (JSON would otherwise mangle it), and raw longer than MaxRaw is truncated
// with a note in the reason.
func New(tenant string, stage Stage, format, origin string, reason error, raw []byte, at time.Time) Record {
	r := Record{TenantID: tenant, Stage: stage, Format: format, Origin: origin, ReceivedAt: at.UTC().Truncate(time.Millisecond)}
	if reason != nil {
		r.Reason = reason.Error()
	}
	if len(raw) > MaxRaw {
		r.Reason += fmt.Sprintf(" (raw record of %d bytes truncated to %d; the whole record is at the origin)", len(raw), MaxRaw)
		raw = raw[:MaxRaw]
	}
	if utf8.Valid(raw) {
		r.Raw = string(raw)
	} else {
		b, _ := json.Marshal(raw) // []byte marshals as base64
		r.Raw = string(b[1 : len(b)-1])
		r.RawBase64 = true
	}
	return r
}

// Key identifies the record for idempotent storage: the same rejected input
// from the same origin collapses on redelivery.
func (r Record) Key() string {
	return fmt.Sprintf("%s|%s|%s|%s", r.TenantID, r.Format, r.Origin, r.Raw)
}
