package parsers

import (
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// PfSense reads the OpenVPN log of pfSense and OPNsense firewalls as they
// write and forward it: RFC 3164 syslog from pfSense ("Oct  1 14:03:07 fw
// openvpn[12345]: …", the Status > System Logs > OpenVPN page), RFC 5424
// from pfSense 2.6+ and OPNsense, with or without the <PRI> ("1
// 2026-10-01T14:03:07-04:00 fw.example openvpn_server1 12345 - [meta
// sequenceId="12"] …", OPNsense's local log files).
//
// The lines are OpenVPN's, so the mapping is the openvpn format's (see
// OpenVPN), with one difference: both platforms check passwords with their
// own script, which logs each verdict by name ("user 'jlee' authenticated",
// "user 'jlee' could not authenticate."). Those lines are the login and
// login_failed events; OpenVPN's own unnamed verdict for the same check
// ("TLS Auth Error: Auth Username/Password verification failed for peer",
// "TLS: Username/Password authentication succeeded …") is kept as "other"
// so a sign-in is not counted twice.
type PfSense struct {
	// Location is the zone of timestamps that carry none (RFC 3164 stamps:
	// the firewall's clock zone). Default UTC.
	Location *time.Location
}

// Name implements Parser.
func (PfSense) Name() string { return "pfsense" }

// Kind implements Parser.
func (PfSense) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (PfSense) Description() string {
	return "pfSense / OPNsense OpenVPN syslog (RFC 3164 or 5424): connects, disconnects, address assignments, sign-ins and failures"
}

// WithLocation implements LocationSetter.
func (p PfSense) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// Parse implements Parser. Noise lines return no events and no error.
func (p PfSense) Parse(rec Record) ([]event.Event, error) {
	return parseOpenVPNLine(rec, ovpnFlavor{
		system:     "pfsense",
		scriptAuth: true,
		hint:       "send phiwatch the firewall's OpenVPN log only (pfSense: Status > System Logs > Settings, remote syslog contents \"VPN\"; OPNsense: the openvpn application)",
	}, p.Location)
}
