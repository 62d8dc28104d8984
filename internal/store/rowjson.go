package store

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Rows are encoded for chDB's JSONEachRow input by hand: it is the embedded
// loader's hot path (encoding/json is several times slower here), and times
// must be in ClickHouse's own text form, which Date columns require.

const (
	chDateTime = "2006-01-02 15:04:05.000"
	chDate     = "2006-01-02"
)

type jsonObj struct {
	b     []byte
	first bool
}

func (o *jsonObj) key(k string) {
	if o.first {
		o.first = false
	} else {
		o.b = append(o.b, ',')
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObj) str(k, v string) { o.key(k); o.b = appendJSONString(o.b, v) }
func (o *jsonObj) u64(k string, v uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}
func (o *jsonObj) boolean(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }
func (o *jsonObj) tm(k string, v time.Time, layout string) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = v.UTC().AppendFormat(o.b, layout)
	o.b = append(o.b, '"')
}
func (o *jsonObj) strs(k string, v []string) {
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendJSONString(o.b, s)
	}
	o.b = append(o.b, ']')
}
func (o *jsonObj) strMap(k string, v map[string]string) {
	o.key(k)
	o.b = append(o.b, '{')
	first := true
	for mk, mv := range v {
		if !first {
			o.b = append(o.b, ',')
		}
		first = false
		o.b = appendJSONString(o.b, mk)
		o.b = append(o.b, ':')
		o.b = appendJSONString(o.b, mv)
	}
	o.b = append(o.b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (r *EventRow) appendJSON(b []byte) []byte {
	o := jsonObj{b: append(b, '{'), first: true}
	o.str("tenant_id", r.TenantID)
	o.str("event_id", r.EventID)
	o.str("source_kind", r.SourceKind)
	o.str("source_system", r.SourceSystem)
	o.str("source_name", r.SourceName)
	o.tm("time", r.Time, chDateTime)
	o.tm("received_at", r.ReceivedAt, chDateTime)
	o.str("actor_id", r.ActorID)
	o.str("actor_name", r.ActorName)
	o.str("actor_role", r.ActorRole)
	o.str("actor_department", r.ActorDepartment)
	o.str("action", r.Action)
	o.str("outcome", r.Outcome)
	o.str("patient_id", r.PatientID)
	o.str("resource_type", r.ResourceType)
	o.str("resource_id", r.ResourceID)
	o.str("client_ip", r.ClientIP)
	o.str("device", r.Device)
	o.str("purpose_of_use", r.PurposeOfUse)
	o.boolean("break_glass", r.BreakGlass)
	o.str("email_sender", r.EmailSender)
	o.strs("email_recipients", r.EmailRecipients)
	o.strs("email_recipient_domains", r.EmailRecipientDomains)
	o.boolean("email_external", r.EmailExternal)
	o.u64("email_attachment_count", uint64(r.EmailAttachmentCount))
	o.u64("email_size_bytes", r.EmailSizeBytes)
	o.str("email_message_id", r.EmailMessageID)
	o.str("vpn_session_id", r.VPNSessionID)
	o.u64("vpn_bytes_in", r.VPNBytesIn)
	o.u64("vpn_bytes_out", r.VPNBytesOut)
	o.u64("vpn_duration_s", uint64(r.VPNDurationS))
	o.str("vpn_assigned_ip", r.VPNAssignedIP)
	o.str("vpn_group", r.VPNGroup)
	o.strMap("attrs", r.Attrs)
	o.str("raw", r.Raw)
	o.tm("retain_until", r.RetainUntil, chDate)
	return append(o.b, '}', '\n')
}

func (r *DeadLetterRow) appendJSON(b []byte) []byte {
	o := jsonObj{b: append(b, '{'), first: true}
	o.str("tenant_id", r.TenantID)
	o.tm("received_at", r.ReceivedAt, chDateTime)
	o.str("key_hash", r.KeyHash)
	o.str("stage", r.Stage)
	o.str("format", r.Format)
	o.str("origin", r.Origin)
	o.str("reason", r.Reason)
	o.str("raw", r.Raw)
	o.boolean("raw_base64", r.RawBase64)
	o.tm("retain_until", r.RetainUntil, chDate)
	return append(o.b, '}', '\n')
}
