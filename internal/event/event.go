// Package event defines the one normalized access event that every phiwatch
// parser emits and every later stage (bus, loader, store, detectors, API)
// reads. See docs/event-model.md for the field reference and examples.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// SourceKind says which family of log an event came from.
type SourceKind string

// The source kinds phiwatch knows.
const (
	KindEHR   SourceKind = "ehr"
	KindEmail SourceKind = "email"
	KindVPN   SourceKind = "vpn"
)

// Outcome is whether the logged operation succeeded.
type Outcome string

// Outcomes. Unknown is for sources that do not say.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeUnknown Outcome = "unknown"
)

// Actor is the person or system that did something, as far as the source
// knows it. Identity resolution across sources happens later, in the store.
type Actor struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Role       string `json:"role,omitempty"`
	Department string `json:"department,omitempty"`
}

// Email holds what email detectors need; nil for other kinds.
type Email struct {
	Sender           string   `json:"sender,omitempty"`
	Recipients       []string `json:"recipients,omitempty"`
	RecipientDomains []string `json:"recipient_domains,omitempty"`
	External         bool     `json:"external,omitempty"`
	AttachmentCount  uint32   `json:"attachment_count,omitempty"`
	SizeBytes        uint64   `json:"size_bytes,omitempty"`
	MessageID        string   `json:"message_id,omitempty"`
}

// VPN holds what VPN detectors need; nil for other kinds.
type VPN struct {
	SessionID  string `json:"session_id,omitempty"`
	BytesIn    uint64 `json:"bytes_in,omitempty"`
	BytesOut   uint64 `json:"bytes_out,omitempty"`
	DurationS  uint32 `json:"duration_s,omitempty"`
	AssignedIP string `json:"assigned_ip,omitempty"`
	Group      string `json:"group,omitempty"`
}

// Event is one normalized access event.
type Event struct {
	TenantID     string     `json:"tenant_id"`
	EventID      string     `json:"event_id"`
	SourceKind   SourceKind `json:"source_kind"`
	SourceSystem string     `json:"source_system"` // parser format, e.g. "cisco-asa"
	SourceName   string     `json:"source_name,omitempty"`
	Time         time.Time  `json:"time"`        // when it happened, UTC, ms
	ReceivedAt   time.Time  `json:"received_at"` // when phiwatch got it, UTC, ms
	Actor        Actor      `json:"actor"`
	Action       Action     `json:"action"`
	Outcome      Outcome    `json:"outcome"`
	PatientID    string     `json:"patient_id,omitempty"`
	ResourceType string     `json:"resource_type,omitempty"`
	ResourceID   string     `json:"resource_id,omitempty"`
	ClientIP     string     `json:"client_ip,omitempty"`
	Device       string     `json:"device,omitempty"`
	PurposeOfUse string     `json:"purpose_of_use,omitempty"`
	BreakGlass   bool       `json:"break_glass,omitempty"`
	Email        *Email     `json:"email,omitempty"`
	VPN          *VPN       `json:"vpn,omitempty"`
	// Attrs keeps what the source said that has no column of its own.
	Attrs map[string]string `json:"attrs,omitempty"`
	// Raw is the source record exactly as received, for evidence.
	Raw string `json:"raw,omitempty"`
}

// ID computes the stable event id: a hash of tenant, source system and the
// record's identity. Parsers pass the source's own record id when it has
// one (FHIR AuditEvent.id, M365 Id) and the raw record otherwise, so a
// retried or re-read record gets the same id and collapses in the store.
func ID(tenant, sourceSystem, recordKey string) string {
	h := sha256.New()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(sourceSystem))
	h.Write([]byte{0})
	h.Write([]byte(recordKey))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Normalize puts times in UTC at millisecond precision and fills defaults
// that every stage relies on.
func (e *Event) Normalize() {
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.ReceivedAt = e.ReceivedAt.UTC().Truncate(time.Millisecond)
	if e.Outcome == "" {
		e.Outcome = OutcomeUnknown
	}
}

// PartitionKey is the bus key: events of one actor in one tenant stay in
// order on one partition, which streaming detectors rely on.
func (e *Event) PartitionKey() string {
	return e.TenantID + "/" + e.Actor.ID
}
