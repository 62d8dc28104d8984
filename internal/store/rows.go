package store

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/event"
)

// DefaultRetention is how long rows are kept when a tenant sets nothing:
// 7 years, above HIPAA's 6-year documentation rule (164.316(b)(2)).
const DefaultRetention = 7 * 365 * 24 * time.Hour

// EventRow is one access_events row. The json and ch tags are the column
// names, for the embedded (JSONEachRow) and server (native) drivers.
type EventRow struct {
	TenantID              string            `json:"tenant_id" ch:"tenant_id"`
	EventID               string            `json:"event_id" ch:"event_id"`
	SourceKind            string            `json:"source_kind" ch:"source_kind"`
	SourceSystem          string            `json:"source_system" ch:"source_system"`
	SourceName            string            `json:"source_name" ch:"source_name"`
	Time                  time.Time         `json:"time" ch:"time"`
	ReceivedAt            time.Time         `json:"received_at" ch:"received_at"`
	ActorID               string            `json:"actor_id" ch:"actor_id"`
	ActorName             string            `json:"actor_name" ch:"actor_name"`
	ActorRole             string            `json:"actor_role" ch:"actor_role"`
	ActorDepartment       string            `json:"actor_department" ch:"actor_department"`
	Action                string            `json:"action" ch:"action"`
	Outcome               string            `json:"outcome" ch:"outcome"`
	PatientID             string            `json:"patient_id" ch:"patient_id"`
	ResourceType          string            `json:"resource_type" ch:"resource_type"`
	ResourceID            string            `json:"resource_id" ch:"resource_id"`
	ClientIP              string            `json:"client_ip" ch:"client_ip"`
	Device                string            `json:"device" ch:"device"`
	PurposeOfUse          string            `json:"purpose_of_use" ch:"purpose_of_use"`
	BreakGlass            bool              `json:"break_glass" ch:"break_glass"`
	EmailSender           string            `json:"email_sender" ch:"email_sender"`
	EmailRecipients       []string          `json:"email_recipients" ch:"email_recipients"`
	EmailRecipientDomains []string          `json:"email_recipient_domains" ch:"email_recipient_domains"`
	EmailExternal         bool              `json:"email_external" ch:"email_external"`
	EmailAttachmentCount  uint32            `json:"email_attachment_count" ch:"email_attachment_count"`
	EmailSizeBytes        uint64            `json:"email_size_bytes" ch:"email_size_bytes"`
	EmailMessageID        string            `json:"email_message_id" ch:"email_message_id"`
	VPNSessionID          string            `json:"vpn_session_id" ch:"vpn_session_id"`
	VPNBytesIn            uint64            `json:"vpn_bytes_in" ch:"vpn_bytes_in"`
	VPNBytesOut           uint64            `json:"vpn_bytes_out" ch:"vpn_bytes_out"`
	VPNDurationS          uint32            `json:"vpn_duration_s" ch:"vpn_duration_s"`
	VPNAssignedIP         string            `json:"vpn_assigned_ip" ch:"vpn_assigned_ip"`
	VPNGroup              string            `json:"vpn_group" ch:"vpn_group"`
	Attrs                 map[string]string `json:"attrs" ch:"attrs"`
	Raw                   string            `json:"raw" ch:"raw"`
	RetainUntil           time.Time         `json:"retain_until" ch:"retain_until"`
}

// NewEventRow flattens an event; retention decides retain_until.
func NewEventRow(e *event.Event, retention time.Duration) EventRow {
	if retention <= 0 {
		retention = DefaultRetention
	}
	r := EventRow{
		TenantID: e.TenantID, EventID: e.EventID,
		SourceKind: string(e.SourceKind), SourceSystem: e.SourceSystem, SourceName: e.SourceName,
		Time: e.Time.UTC(), ReceivedAt: e.ReceivedAt.UTC(),
		ActorID: e.Actor.ID, ActorName: e.Actor.Name, ActorRole: e.Actor.Role, ActorDepartment: e.Actor.Department,
		Action: string(e.Action), Outcome: string(e.Outcome),
		PatientID: e.PatientID, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
		ClientIP: e.ClientIP, Device: e.Device, PurposeOfUse: e.PurposeOfUse, BreakGlass: e.BreakGlass,
		Attrs: e.Attrs, Raw: e.Raw,
		RetainUntil: e.Time.UTC().Add(retention).Truncate(24 * time.Hour),
	}
	if r.Attrs == nil {
		r.Attrs = map[string]string{}
	}
	r.EmailRecipients, r.EmailRecipientDomains = []string{}, []string{}
	if m := e.Email; m != nil {
		r.EmailSender, r.EmailExternal = m.Sender, m.External
		r.EmailAttachmentCount, r.EmailSizeBytes, r.EmailMessageID = m.AttachmentCount, m.SizeBytes, m.MessageID
		if m.Recipients != nil {
			r.EmailRecipients = m.Recipients
		}
		if m.RecipientDomains != nil {
			r.EmailRecipientDomains = m.RecipientDomains
		}
	}
	if v := e.VPN; v != nil {
		r.VPNSessionID, r.VPNBytesIn, r.VPNBytesOut = v.SessionID, v.BytesIn, v.BytesOut
		r.VPNDurationS, r.VPNAssignedIP, r.VPNGroup = v.DurationS, v.AssignedIP, v.Group
	}
	return r
}

// DeadLetterRow is one dead_letters row.
type DeadLetterRow struct {
	TenantID    string    `json:"tenant_id" ch:"tenant_id"`
	ReceivedAt  time.Time `json:"received_at" ch:"received_at"`
	KeyHash     string    `json:"key_hash" ch:"key_hash"`
	Stage       string    `json:"stage" ch:"stage"`
	Format      string    `json:"format" ch:"format"`
	Origin      string    `json:"origin" ch:"origin"`
	Reason      string    `json:"reason" ch:"reason"`
	Raw         string    `json:"raw" ch:"raw"`
	RawBase64   bool      `json:"raw_base64" ch:"raw_base64"`
	RetainUntil time.Time `json:"retain_until" ch:"retain_until"`
}

// NewDeadLetterRow flattens a dead letter.
func NewDeadLetterRow(d *deadletter.Record, retention time.Duration) DeadLetterRow {
	if retention <= 0 {
		retention = DefaultRetention
	}
	sum := sha256.Sum256([]byte(d.Key()))
	return DeadLetterRow{
		TenantID: d.TenantID, ReceivedAt: d.ReceivedAt.UTC(), KeyHash: hex.EncodeToString(sum[:16]),
		Stage: string(d.Stage), Format: d.Format, Origin: d.Origin, Reason: d.Reason,
		Raw: d.Raw, RawBase64: d.RawBase64,
		RetainUntil: d.ReceivedAt.UTC().Add(retention).Truncate(24 * time.Hour),
	}
}

// columnList is the INSERT column list for a row type, from its ch tags.
func columnList(row any) string {
	t := reflect.TypeOf(row)
	cols := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		cols = append(cols, t.Field(i).Tag.Get("ch"))
	}
	return strings.Join(cols, ", ")
}
