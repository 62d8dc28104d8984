package event

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Limits that keep one bad record from hurting the store.
const (
	MaxRawBytes  = 256 << 10
	maxAttrs     = 128
	maxFieldSize = 4 << 10
)

// earliest is the oldest event time accepted; anything older is a parsing
// mistake (an epoch of 0, a two-digit year), not an audit record.
var earliest = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate reports every problem that would make the event unusable, in
// words an operator can act on. now bounds how far in the future a
// timestamp may be (clock skew is tolerated up to a day).
func (e *Event) Validate(now time.Time) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if e.TenantID == "" {
		bad("tenant_id is empty")
	} else if !validTenant(e.TenantID) {
		bad("tenant_id %q must be 1-64 characters of a-z, 0-9, '-' or '_'", e.TenantID)
	}
	if len(e.EventID) != 32 {
		bad("event_id %q is not a 32-character hash (use event.ID)", e.EventID)
	}
	switch e.SourceKind {
	case KindEHR, KindEmail, KindVPN:
	default:
		bad("source_kind %q is not one of ehr, email, vpn", e.SourceKind)
	}
	if e.SourceSystem == "" {
		bad("source_system is empty")
	}
	if e.Time.IsZero() {
		bad("time is missing")
	} else if e.Time.Before(earliest) || e.Time.After(now.Add(24*time.Hour)) {
		bad("time %s is outside %s .. now+24h", e.Time.Format(time.RFC3339), earliest.Format("2006-01-02"))
	}
	if !e.Action.Valid() {
		bad("action %q is not in the vocabulary", e.Action)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeUnknown:
	default:
		bad("outcome %q is not one of success, failure, unknown", e.Outcome)
	}
	if e.ClientIP != "" {
		if _, err := netip.ParseAddr(e.ClientIP); err != nil {
			bad("client_ip %q is not an IP address", e.ClientIP)
		}
	}
	if e.VPN != nil && e.VPN.AssignedIP != "" {
		if _, err := netip.ParseAddr(e.VPN.AssignedIP); err != nil {
			bad("vpn.assigned_ip %q is not an IP address", e.VPN.AssignedIP)
		}
	}
	if len(e.Raw) > MaxRawBytes {
		bad("raw record is %d bytes, more than %d", len(e.Raw), MaxRawBytes)
	}
	if len(e.Attrs) > maxAttrs {
		bad("%d attrs, more than %d", len(e.Attrs), maxAttrs)
	}
	for _, f := range []struct{ name, v string }{
		{"actor.id", e.Actor.ID}, {"actor.name", e.Actor.Name}, {"patient_id", e.PatientID},
		{"resource_id", e.ResourceID}, {"device", e.Device},
	} {
		if len(f.v) > maxFieldSize {
			bad("%s is %d bytes, more than %d", f.name, len(f.v), maxFieldSize)
		}
	}
	return errors.Join(errs...)
}

func validTenant(s string) bool {
	if len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}

// ValidTenant reports whether s is an acceptable tenant id.
func ValidTenant(s string) bool { return s != "" && validTenant(s) }
